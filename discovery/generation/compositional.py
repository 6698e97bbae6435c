"""GNoME's compositional framework: compositions -> composition-only model -> random structures. Pure.

1. enumerate reduced compositions of a chemical system under the relaxed oxidation-state rule
   (``compositions.enumerate_compositions``);
2. drop those already in the catalogue (novelty);
3. predict each one's formation energy with the compositional ensemble (median over members) and its
   decomposition energy against the hull (a callable the caller gives: pure code does not know the database);
4. for those under the threshold (GNoME: 50 meV/atom), ``n_structures`` random symmetric structures each
   (``random_structures``, default 100 as in the paper), pre-relaxed with soft spheres.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .candidates import Candidate, GenerationError
from .compositions import enumerate_compositions
from .random_structures import random_structures


@dataclass
class CompositionScore:
    formula: str
    e_form_pred_ev_per_atom: float  # the compositional model's median: a prediction, not DFT
    iqr_ev_per_atom: float
    e_above_hull_pred_ev_per_atom: float | None  # None: no hull placement (an element without reference)


@dataclass
class CompositionalStats:
    enumerated: int = 0
    known: int = 0
    scored: int = 0
    not_placeable: int = 0
    kept: int = 0
    structures: int = 0
    scores: list[CompositionScore] = field(default_factory=list)


def score_compositions(models: Sequence, compositions: Sequence) -> list[tuple[float, float]]:
    """(median, interquartile range) of the compositional ensemble's formation energy (eV/atom) per composition."""
    from discovery.gnn.featurize import composition_graph
    from discovery.gnn.predict import predict_graphs

    if not compositions:
        return []
    per_model = predict_graphs(models, [composition_graph(c) for c in compositions], volumes=None)
    q1, median, q3 = np.percentile(per_model, [25, 50, 75], axis=0)
    return [(float(m), float(b - a)) for m, a, b in zip(median, q1, q3, strict=True)]


def compositional_candidates(
    elements: Iterable[str],
    models: Sequence,
    e_above_hull: Callable[[object, float], float | None],
    *,
    threshold_ev_per_atom: float = 0.05,
    n_structures: int = 100,
    max_atoms: int = 12,
    known_formulas: set[str] | frozenset[str] = frozenset(),
    include_known: bool = False,
    seed: int = 0,
    batch: int = 512,
    stats: CompositionalStats | None = None,
    random_options: dict | None = None,
) -> Iterator[Candidate]:
    """Random structures for the compositions of ``elements`` that the compositional model places within
    ``threshold_ev_per_atom`` of the hull (``e_above_hull(composition, e_form_per_atom)``).

    Candidates have method "random", parent the reduced formula, and in ``detail`` the composition's predicted
    formation and decomposition energies (labelled as the compositional model's).
    """
    if not models:
        raise GenerationError("the compositional pipeline needs a compositional model (no members given)")
    if any(getattr(m.config, "kind", "structure") != "composition" for m in models):
        raise GenerationError("the compositional pipeline needs compositional models (config kind 'composition')")
    stats = stats if stats is not None else CompositionalStats()
    pending = []

    def flush():
        kept = []
        for composition, (median, iqr) in zip(pending, score_compositions(models, pending), strict=True):
            stats.scored += 1
            above = e_above_hull(composition, median)
            score = CompositionScore(composition.reduced_formula, median, iqr, above)
            stats.scores.append(score)
            if above is None:
                stats.not_placeable += 1
            elif above < threshold_ev_per_atom:
                kept.append((composition, score))
        pending.clear()
        return kept

    def structures_for(kept):
        for composition, score in kept:
            stats.kept += 1
            for candidate in random_structures(composition, n_structures, seed=seed, **(random_options or {})):
                candidate.detail.update({
                    "composition_model": {"e_form_pred_ev_per_atom": score.e_form_pred_ev_per_atom,
                                          "iqr_ev_per_atom": score.iqr_ev_per_atom,
                                          "e_above_hull_pred_ev_per_atom": score.e_above_hull_pred_ev_per_atom}})
                stats.structures += 1
                yield candidate

    for composition in enumerate_compositions(list(elements), max_atoms=max_atoms):
        stats.enumerated += 1
        if not include_known and composition.reduced_formula in known_formulas:
            stats.known += 1
            continue
        pending.append(composition)
        if len(pending) >= batch:
            yield from structures_for(flush())
    if pending:
        yield from structures_for(flush())
