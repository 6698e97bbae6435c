"""Stream stages over candidates: novelty filter, exact and structural deduplication, limits. Pure.

Every stage is a generator over a generator, so a run that yields millions of candidates holds only what the
stages remember: the keys of the candidates already passed (a set of 64-bit ints, about 60 MB per million)
and, for the structural deduplication, a bounded window of compositions with their kept structures.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .candidates import Candidate


@dataclass
class StreamStats:
    """What each stage let through or dropped (counts), filled while the stream is consumed."""

    seen: int = 0
    known_composition: int = 0
    exact_duplicate: int = 0
    structural_duplicate: int = 0
    passed: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


def novel(candidates: Iterable[Candidate], known_formulas: set[str] | frozenset[str],
          stats: StreamStats | None = None) -> Iterator[Candidate]:
    """Candidates whose reduced formula is not among ``known_formulas`` (GNoME's novelty rule: a composition
    check against the catalogue, not a structure match)."""
    for candidate in candidates:
        if candidate.reduced_formula in known_formulas:
            if stats is not None:
                stats.known_composition += 1
            continue
        yield candidate


def unique(candidates: Iterable[Candidate], stats: StreamStats | None = None) -> Iterator[Candidate]:
    """Candidates with a key not seen before (identical structures from two seeds or two generators)."""
    seen: set[int] = set()
    for candidate in candidates:
        key = int(candidate.key, 16)
        if key in seen:
            if stats is not None:
                stats.exact_duplicate += 1
            continue
        seen.add(key)
        yield candidate


def structurally_unique(candidates: Iterable[Candidate], *, window: int = 2000, per_composition: int = 50,
                        matcher=None, stats: StreamStats | None = None) -> Iterator[Candidate]:
    """Candidates that pymatgen's StructureMatcher finds different from every kept one of their composition.

    Memory is bounded: at most ``window`` compositions are remembered (least recently seen go first), each
    with at most ``per_composition`` kept structures; a duplicate of a structure forgotten that way can pass,
    which costs an evaluation, never a wrong result (a discovery round keeps one structure per composition).
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = matcher or StructureMatcher()
    kept: OrderedDict[str, list] = OrderedDict()
    for candidate in candidates:
        formula = candidate.reduced_formula
        group = kept.get(formula)
        if group is None:
            group = kept[formula] = []
            if len(kept) > window:
                kept.popitem(last=False)
        else:
            kept.move_to_end(formula)
        structure = candidate.structure
        if any(matcher.fit(structure, other) for other in group):
            if stats is not None:
                stats.structural_duplicate += 1
            continue
        if len(group) < per_composition:
            group.append(structure)
        yield candidate


def counted(candidates: Iterable[Candidate], stats: StreamStats, *, entering: bool = False) -> Iterator[Candidate]:
    """Counts the candidates going by: as ``seen`` at the start of a pipeline, as ``passed`` at its end."""
    for candidate in candidates:
        if entering:
            stats.seen += 1
        else:
            stats.passed += 1
            stats.by_method[candidate.method] = stats.by_method.get(candidate.method, 0) + 1
        yield candidate


def pipeline(candidates: Iterable[Candidate], *, known_formulas: set[str] | frozenset[str] = frozenset(),
             include_known: bool = False, dedup: str = "exact", limit: int | None = None,
             stats: StreamStats | None = None, on_candidate: Callable[[Candidate], None] | None = None
             ) -> Iterator[Candidate]:
    """The usual chain: count, novelty filter (unless ``include_known``), deduplication ("none", "exact" or
    "structure", which implies exact), then at most ``limit`` candidates."""
    if dedup not in {"none", "exact", "structure"}:
        raise ValueError(f"dedup must be 'none', 'exact' or 'structure', not {dedup!r}")
    stats = stats if stats is not None else StreamStats()
    stream: Iterable[Candidate] = counted(candidates, stats, entering=True)
    if not include_known:
        stream = novel(stream, known_formulas, stats)
    if dedup in {"exact", "structure"}:
        stream = unique(stream, stats)
    if dedup == "structure":
        stream = structurally_unique(stream, stats=stats)
    stream = counted(stream, stats)
    for n, candidate in enumerate(stream):
        if on_candidate is not None:
            on_candidate(candidate)
        yield candidate
        if limit is not None and n + 1 >= limit:
            return
