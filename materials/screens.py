"""Screens for families of interest, as funnels of named stages: pure, no Django.

A funnel takes records (what each stage needs to know about a material) and criteria, and passes every
record through the stages in order. Each stage gives each record a result, ``pass``, ``fail`` or
``unknown`` (the stage needs a value the catalogue does not have, e.g. a band gap never computed), and a
reason. ``unknown`` is never silently passed or failed: the record goes on to the next stage in the
"unknown" bucket, and the counts say so. For each stage: input = passed + failed + unknown and output =
passed + unknown = the next stage's input.

Screens: ``li_conductor`` (after Sendek et al. 2017, as GNoME applied it), ``layered`` (Cheon
dimensionality 2D, as GNoME), ``li_mn_oxides`` (Li-Mn-(TM)-O phases stable against the Materials Project
hull, GNoME's comparison).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pymatgen.core import Element

from . import dimensionality as cheon

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"  # a stage's result
CANDIDATE, FAILED = "candidate", "failed"  # a material's outcome: passed every stage, or failed one
OUTCOMES = (CANDIDATE, UNKNOWN, FAILED)  # UNKNOWN: passed, with stages that could not tell
TRANSITION_METALS = tuple(el.symbol for el in Element if el.is_transition_metal)  # d block, groups 3-12
F_BLOCK = tuple(el.symbol for el in Element if el.is_lanthanoid or el.is_actinoid)


@dataclass(frozen=True)
class Record:
    """What the screens know about one material."""

    material_id: str
    source: str
    elements: tuple[str, ...]
    li_fraction: float  # atomic fraction of Li
    e_above_hull: float | None  # on the screen's hull set; None where not placed
    band_gap_ev: float | None = None
    dimensionality: str = ""  # Cheon label; "" where not computed
    has_structure: bool = True
    window: tuple[float, float] | None = None  # (reduction V, oxidation V) vs Li/Li+


@dataclass(frozen=True)
class Criteria:
    """Thresholds of the screens; every default is stated and justified in docs/science.md."""

    hull: str = "all"
    sources: str = ""  # comma list of sources in the universe ("" = every source)
    max_e_above_hull: float = 0.001  # eV/atom: GNoME's "stable" hull tolerance (1 meV/atom)
    exclude_transition_metals: bool = True
    exclude_f_block: bool = False
    min_li_fraction: float = 0.25
    min_band_gap_ev: float = 1.0
    max_reduction_v: float = 1.0
    min_oxidation_v: float = 2.5

    @classmethod
    def from_params(cls, params: Mapping[str, Any], base: Criteria | None = None) -> Criteria:
        """Criteria from strings or values; raises ValueError naming the parameter."""
        base = base or cls()
        values = asdict(base)
        known = {f.name: f.type for f in fields(cls)}
        for name, raw in params.items():
            if name not in known:
                raise ValueError(f"{name}: unknown criterion; one of {', '.join(known)}")
            current = values[name]
            try:
                if isinstance(current, bool):
                    if str(raw).lower() not in {"true", "false", "1", "0"}:
                        raise ValueError
                    values[name] = str(raw).lower() in {"true", "1"}
                elif isinstance(current, float):
                    values[name] = float(raw)
                    if values[name] != values[name] or values[name] in (float("inf"), float("-inf")):
                        raise ValueError
                else:
                    values[name] = str(raw)
            except ValueError:
                raise ValueError(f"{name}: {raw!r} is not a valid {type(current).__name__}") from None
        bad = [s for s in values["sources"].split(",") if s and s not in ("gnome", "mp", "discovery", "upload")]
        if bad:
            raise ValueError(f"sources: unknown source {bad[0]!r}")
        if values["hull"] not in ("all", "mp"):
            raise ValueError(f"hull: {values['hull']!r}; choose 'all' or 'mp'")
        if not 0 <= values["min_li_fraction"] <= 1:
            raise ValueError("min_li_fraction: between 0 and 1")
        return cls(**values)


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    test: Callable[[Record, Criteria], tuple[str, str]]


@dataclass
class StageCount:
    name: str
    description: str
    input: int = 0
    passed: int = 0
    failed: int = 0
    unknown: int = 0

    @property
    def output(self) -> int:
        return self.passed + self.unknown


@dataclass
class Outcome:
    """One record's way through the funnel: every stage it reached, and where it stopped."""

    material_id: str
    source: str = ""
    outcome: str = CANDIDATE  # candidate | unknown (passed, with unknowns) | failed
    failed_stage: str = ""
    stages: dict[str, dict] = field(default_factory=dict)


@dataclass
class FunnelResult:
    stages: list[StageCount]
    outcomes: dict[str, Outcome]

    def counts(self) -> list[dict]:
        return [{**asdict(s), "output": s.output} for s in self.stages]

    def ids(self, outcome: str) -> list[str]:
        return sorted(i for i, o in self.outcomes.items() if o.outcome == outcome)

    def summary(self) -> dict:
        """Outcome counts, and the candidates (and those passed with unknowns) by source."""
        by_outcome = Counter(o.outcome for o in self.outcomes.values())
        by_source = {k: dict(Counter(o.source for o in self.outcomes.values() if o.outcome == k))
                     for k in (CANDIDATE, UNKNOWN)}
        return {"candidates": by_outcome.get(CANDIDATE, 0), "passed_with_unknowns": by_outcome.get(UNKNOWN, 0),
                "candidates_by_source": by_source[CANDIDATE], "passed_with_unknowns_by_source": by_source[UNKNOWN]}


def run_funnel(records: Iterable[Record], stages: list[Stage], criteria: Criteria,
               before_stage: Callable[[str, list[Record]], list[Record]] | None = None) -> FunnelResult:
    """Pass ``records`` through ``stages``; ``before_stage(name, records)`` may fill in what a stage needs
    (e.g. the electrochemical windows of the records that reached it) and returns the records."""
    current = list(records)
    counts: list[StageCount] = []
    outcomes = {r.material_id: Outcome(r.material_id, r.source) for r in current}
    for stage in stages:
        if before_stage is not None:
            current = before_stage(stage.name, current)
        count = StageCount(stage.name, stage.description, input=len(current))
        survivors = []
        for record in current:
            result, why = stage.test(record, criteria)
            outcome = outcomes[record.material_id]
            outcome.stages[stage.name] = {"result": result, "why": why}
            if result == FAIL:
                count.failed += 1
                outcome.outcome, outcome.failed_stage = FAILED, stage.name
                continue
            if result == UNKNOWN:
                count.unknown += 1
                outcome.outcome = UNKNOWN
            else:
                count.passed += 1
            survivors.append(record)
        counts.append(count)
        current = survivors
    return FunnelResult(counts, outcomes)


# ---- stages ------------------------------------------------------------------------------------

def _contains_li(r: Record, c: Criteria) -> tuple[str, str]:
    return (PASS, "contains Li") if "Li" in r.elements else (FAIL, "contains no Li")


def _no_transition_metals(r: Record, c: Criteria) -> tuple[str, str]:
    banned = set(TRANSITION_METALS if c.exclude_transition_metals else ()) | set(F_BLOCK if c.exclude_f_block else ())
    found = sorted(banned.intersection(r.elements))
    return (FAIL, f"contains {', '.join(found)}") if found else (PASS, "no excluded metal")


def _li_fraction(r: Record, c: Criteria) -> tuple[str, str]:
    verdict = PASS if r.li_fraction >= c.min_li_fraction - 1e-9 else FAIL
    return verdict, f"Li fraction {r.li_fraction:.3f} ({'>=' if verdict == PASS else '<'} {c.min_li_fraction})"


def _stable(r: Record, c: Criteria) -> tuple[str, str]:
    if r.e_above_hull is None:
        return UNKNOWN, f"no place on the {c.hull!r} hull"
    verdict = PASS if r.e_above_hull <= c.max_e_above_hull else FAIL
    return verdict, f"{r.e_above_hull * 1000:.1f} meV/atom above the {c.hull!r} hull (limit {c.max_e_above_hull * 1000:g})"


def _band_gap(r: Record, c: Criteria) -> tuple[str, str]:
    if r.band_gap_ev is None:
        return UNKNOWN, "band gap not known"
    verdict = PASS if r.band_gap_ev >= c.min_band_gap_ev else FAIL
    return verdict, f"band gap {r.band_gap_ev:.2f} eV (limit {c.min_band_gap_ev} eV)"


def _window(r: Record, c: Criteria) -> tuple[str, str]:
    if r.window is None:
        return UNKNOWN, "no electrochemical window (not placed on the hull)"
    red, ox = r.window
    text = f"stable from {red:.2f} to {ox:.2f} V vs Li/Li+"
    if red > c.max_reduction_v:
        return FAIL, f"{text}: reduced above {c.max_reduction_v} V"
    if ox < c.min_oxidation_v:
        return FAIL, f"{text}: oxidised below {c.min_oxidation_v} V"
    return PASS, text


def _has_structure(r: Record, c: Criteria) -> tuple[str, str]:
    return (PASS, "has a crystal structure") if r.has_structure else (FAIL, "energy-only hull phase (no structure)")


def _layered(r: Record, c: Criteria) -> tuple[str, str]:
    if not r.dimensionality or r.dimensionality == cheon.UNDETERMINED:
        return UNKNOWN, "dimensionality not determined"
    if r.dimensionality == cheon.LAYERED:
        return PASS, f"{cheon.LAYERED} (layered)"
    return FAIL, f"{r.dimensionality}, not {cheon.LAYERED}"


def _li_mn_tm_o(r: Record, c: Criteria) -> tuple[str, str]:
    others = set(r.elements) - {"Li", "Mn", "O"}
    if not {"Li", "Mn", "O"} <= set(r.elements):
        return FAIL, "not a Li-Mn oxide"
    if not others:
        return PASS, "Li-Mn-O"
    if len(others) == 1 and others <= set(TRANSITION_METALS):
        return PASS, f"Li-Mn-{next(iter(others))}-O"
    return FAIL, f"other elements {', '.join(sorted(others))} (one more transition metal at most)"


LI_CONDUCTOR = [
    Stage("contains_li", "Contains lithium.", _contains_li),
    Stage("no_transition_metals", "No transition metals (d block, groups 3-12; f block if chosen): redox-inactive.",
          _no_transition_metals),
    Stage("li_fraction", "Atomic Li fraction at least min_li_fraction.", _li_fraction),
    Stage("stable", "Energy above the chosen hull at most max_e_above_hull.", _stable),
    Stage("band_gap", "Band gap at least min_band_gap_ev (electronic insulator); unknown where not computed.",
          _band_gap),
    Stage("electrochemical_window", "Stable against reduction down to max_reduction_v and oxidation up to "
          "min_oxidation_v (V vs Li/Li+).", _window),
]
LAYERED = [
    Stage("has_structure", "Has a crystal structure.", _has_structure),
    Stage("layered", "Cheon dimensionality (0.45 Å) is 2D.", _layered),
    Stage("stable", "Energy above the chosen hull at most max_e_above_hull.", _stable),
]
LI_MN_OXIDES = [
    Stage("li_mn_tm_o", "In a Li-Mn-O or Li-Mn-TM-O system (TM: one more transition metal).", _li_mn_tm_o),
    Stage("stable", "Energy above the chosen hull (default: the Materials Project's, 'mp') at most "
          "max_e_above_hull.", _stable),
]

SCREENS: dict[str, tuple[str, list[Stage], Criteria]] = {
    "li_conductor": ("Li-ion conductor candidates (holistic funnel after Sendek et al. 2017)", LI_CONDUCTOR,
                     Criteria()),
    "layered": ("Layered materials: Cheon dimensionality 2D, stable", LAYERED, Criteria()),
    "li_mn_oxides": ("Li/Mn transition-metal oxides stable against the Materials Project hull", LI_MN_OXIDES,
                     Criteria(hull="mp", max_e_above_hull=5e-5)),
}
