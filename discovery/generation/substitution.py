"""Ionic substitutions of a seed crystal with GNoME's changes to the Hautier et al. (2011) model. Pure.

The model is pymatgen's ``SubstitutionProbability`` (its shipped ``lambda.json`` pair weights) with the changes
GNoME describes:

- pair weights are clamped at zero, ``lambda <- max(lambda, 0)``, and never-observed pairs get ``alpha = 0``, so a
  rare substitution is no longer penalised below an unseen one (the normalisers ``p_x`` are built from the
  clamped weights too);
- a species left unchanged contributes probability 1: only substituted positions multiply ``cond_prob``;
- mappings are kept above a threshold of 1e-3, found by pymatgen's branch-and-bound (a partial assignment is
  pruned once its product times the best case for the remaining positions is at or below the threshold);
- a mapping that sends two original species to one new species is dropped (pymatgen's rule), and so is the
  identity.

The direction of the conditional probability follows pymatgen's
``SubstitutionPredictor.list_prediction(species, to_this_composition=False)``: an original ion ``s`` replaced by
``s'`` contributes ``cond_prob(s, s') = exp(lambda(s, s')) / p_x(s')``.

Candidates keep the seed's lattice and fractional coordinates unrelaxed (as GNoME scored them) and share those
arrays with every candidate of the seed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence

import numpy as np
from pymatgen.analysis.bond_valence import BVAnalyzer
from pymatgen.analysis.structure_prediction.substitution_probability import SubstitutionProbability
from pymatgen.core import Species, Structure, get_el_sp

from discovery.generation.candidates import Candidate, GenerationError

__all__ = [
    "DEFAULT_THRESHOLD",
    "GnomeSubstitutionProbability",
    "is_charge_balanced",
    "seed_species",
    "shared_geometry",
    "single_replacements",
    "substitution_mappings",
    "substitution_model",
    "substitutions",
]

DEFAULT_THRESHOLD = 1e-3  # GNoME's threshold on the probability of a substitution mapping
CHARGE_TOLERANCE = 1e-8  # |sum of oxidation states| below this counts as balanced (pymatgen's value)


class GnomeSubstitutionProbability(SubstitutionProbability):
    """pymatgen's substitution probabilities with GNoME's clamped weights and unit factor for unchanged ions.

    Build it with ``alpha=0`` (``substitution_model()`` does): the base constructor computes ``Z`` and ``p_x``
    through ``get_lambda``, so the clamp reaches the normalisers as well.
    """

    def get_lambda(self, s1, s2) -> float:
        """The pair weight clamped at zero (unseen pairs: ``alpha``, itself clamped)."""
        return max(super().get_lambda(s1, s2), 0.0)

    def cond_prob_list(self, l1, l2) -> float:
        """The probability of the original species ``l1`` becoming ``l2``, position by position.

        Positions where the species is unchanged contribute 1 ("probabilities are only computed when two
        compositions differ"); the others contribute ``cond_prob(original, new)``.
        """
        if len(l1) != len(l2):
            raise ValueError(f"species lists differ in length: {len(l1)} original, {len(l2)} new")
        probability = 1.0
        for original, new in zip(l1, l2, strict=True):
            if get_el_sp(original) != get_el_sp(new):
                probability *= self.cond_prob(original, new)
        return probability


@functools.cache
def substitution_model() -> GnomeSubstitutionProbability:
    """The one GNoME substitution model of the process (reading ``lambda.json`` once)."""
    return GnomeSubstitutionProbability(alpha=0.0)


@functools.cache
def _replacement_table(original: Species, threshold: float) -> tuple[tuple[Species, float], ...]:
    """Every species of the model other than ``original`` with ``cond_prob(original, new) > threshold``.

    Sorted by probability, highest first, then by the species' string form, so ties are ordered the same in every
    process. Empty when the model does not know ``original``: there is no data to substitute it with.
    """
    model = substitution_model()
    if original not in model.species:
        return ()
    found = []
    for new in model.species:
        if new != original:
            probability = model.cond_prob(original, new)
            if probability > threshold:
                found.append((new, probability))
    return tuple(sorted(found, key=lambda pair: (-pair[1], str(pair[0]))))


def substitution_mappings(
    species: Sequence[Species], threshold: float = DEFAULT_THRESHOLD
) -> list[tuple[dict[Species, Species], float]]:
    """The substitution mappings of these ions with probability above the threshold, highest first.

    Args:
        species: oxidation-state-decorated ions (repeats are ignored); an ion the model does not know stays as it
            is.
        threshold: mappings at or below this probability are dropped.

    Returns:
        ``(mapping, probability)`` pairs. Each mapping sends every original ion to its new ion (unchanged ions map
        to themselves). The identity mapping and mappings sending two originals to one new ion are left out. Ties
        are ordered by the string forms of the new ions, position by position.

    The search is pymatgen's branch-and-bound: no position's factor exceeds 1 (an unchanged ion gives exactly 1,
    and ``cond_prob <= 1`` since ``p_x(s')`` sums ``exp(lambda(s', .))`` over every partner), so a partial product
    at or below the threshold is pruned. Each position's options are sorted by probability, so the loop stops at
    the first option that falls below.
    """
    originals = list(dict.fromkeys(species))
    options = [((original, 1.0), *_replacement_table(original, threshold)) for original in originals]
    found: list[tuple[dict[Species, Species], float]] = []

    def extend(chosen: list[Species], probability: float) -> None:
        position = len(chosen)
        if position == len(originals):
            if chosen != originals and len(set(chosen)) == len(chosen):
                found.append((dict(zip(originals, chosen, strict=True)), probability))
            return
        for new, factor in options[position]:
            product = probability * factor
            if product <= threshold:
                break
            extend([*chosen, new], product)

    extend([], 1.0)
    found.sort(key=lambda item: (-item[1], tuple(str(new) for new in item[0].values())))
    return found


def single_replacements(
    species: Sequence[Species], threshold: float = DEFAULT_THRESHOLD
) -> dict[Species, list[tuple[Species, float]]]:
    """For each ion, the ions of another element that may replace it alone, with the single-substitution probability.

    The probability of replacing ion ``X`` by ``X2`` with everything else unchanged is ``cond_prob(X, X2)``.
    Ions of the same element (another oxidation state) are left out: on the element-level candidate they give the
    seed back. Unlike ``substitution_mappings`` this does not drop an ``X2`` that is already an ion of the seed: a
    partial replacement (SAPS) merges no species. Lists are sorted highest first, ties by string form; an ion the
    model does not know gets an empty list.
    """
    return {
        original: [(new, p) for new, p in _replacement_table(original, threshold) if new.symbol != original.symbol]
        for original in dict.fromkeys(species)
    }


def seed_species(structure: Structure, seed_id: str) -> list[Species]:
    """The seed's ions, one per site, with valences from pymatgen's bond-valence analysis (``BVAnalyzer``).

    ``BVAnalyzer`` is used rather than ``Composition.oxi_state_guesses``: it assigns an integer valence to each
    site from the structure, so mixed-valence seeds (Fe2+ and Fe3+ sites) and anion pairs (S- in S2 dimers beside
    S2-) get the integer ions the lambda table knows, where the composition-only guess gives one averaged,
    non-integer state per element that the table does not know. On 300 random rows of the GNoME sample it gave
    integer states for 145 seeds against 108 for the composition guess, at a similar cost (median about 10 ms).
    Its tolerance for equivalent sites is 0.1 Å, the ``symprec`` SAPS uses. An ion the model does not know (H-,
    say) is kept but never substituted.

    Raises:
        GenerationError: the seed is disordered, or no valences can be assigned (metallic and intermetallic
            seeds, or elements without bond-valence parameters), or every valence is zero.
    """
    if not structure.is_ordered:
        raise GenerationError(
            f"seed {seed_id}: disordered sites (partial occupancy); substitution needs an ordered seed"
        )
    formula = structure.composition.reduced_formula
    try:
        valences = BVAnalyzer().get_valences(structure)
    except ValueError as error:
        raise GenerationError(
            f"seed {seed_id} ({formula}): no oxidation states can be assigned ({error}); a metallic or "
            "intermetallic seed? ionic substitution needs ionic species"
        ) from error
    if not any(valences):
        raise GenerationError(
            f"seed {seed_id} ({formula}): every oxidation state is zero; ionic substitution needs ions"
        )
    return [Species(site.specie.symbol, valence) for site, valence in zip(structure, valences, strict=True)]


def shared_geometry(structure: Structure) -> tuple[np.ndarray, np.ndarray]:
    """The seed's lattice matrix and fractional coordinates, copied once and read-only, for candidates to share."""
    lattice = np.array(structure.lattice.matrix, dtype=float)
    frac_coords = np.array(structure.frac_coords, dtype=float)
    lattice.setflags(write=False)
    frac_coords.setflags(write=False)
    return lattice, frac_coords


def is_charge_balanced(total_charge: float) -> bool:
    """Whether a summed oxidation state counts as neutral (pymatgen's tolerance)."""
    return math.isclose(total_charge, 0.0, abs_tol=CHARGE_TOLERANCE)


def substitutions(
    seed_structure: Structure,
    seed_id: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    charge_balance: bool = False,
    limit: int | None = None,
) -> Iterator[Candidate]:
    """Candidates of the seed with its ions substituted, most probable mapping first.

    Args:
        seed_structure: an ordered seed crystal (element or ion species); its geometry is kept unrelaxed.
        seed_id: the seed's material id, recorded as each candidate's parent.
        threshold: mappings at or below this probability are not made (GNoME: 1e-3).
        charge_balance: keep only products whose oxidation states (the seed's, with the substituted ones) sum to
            zero (GNoME's early rounds); off by default, as in its later rounds.
        limit: stop after this many candidates.

    Yields:
        ``Candidate`` with method ``"substitution"``, parent ``seed_id`` and detail ``{"map": {"Na+": "K+", ...},
        "probability": p}`` (only the substituted ions in the map). Mappings that give the same element-level
        crystal (e.g. ``Fe2+`` and ``Fe3+`` as the replacement, or a change of oxidation state only) are made
        once, from the most probable mapping.

    Raises:
        GenerationError: no oxidation states can be assigned to the seed (see ``seed_species``).
    """
    site_ions = seed_species(seed_structure, seed_id)
    originals = list(dict.fromkeys(site_ions))
    ion_of_site = [originals.index(ion) for ion in site_ions]
    counts = [ion_of_site.count(i) for i in range(len(originals))]
    lattice, frac_coords = shared_geometry(seed_structure)
    seed_symbols = tuple(ion.symbol for ion in originals)
    made: set[tuple[str, ...]] = set()
    yielded = 0
    for mapping, probability in substitution_mappings(originals, threshold):
        if limit is not None and yielded >= limit:
            return
        news = [mapping[ion] for ion in originals]
        charge = sum(n * new.oxi_state for n, new in zip(counts, news, strict=True))
        if charge_balance and not is_charge_balanced(charge):
            continue
        symbols = tuple(new.symbol for new in news)
        if symbols == seed_symbols or symbols in made:
            continue
        made.add(symbols)
        detail = {
            "map": {str(old): str(new) for old, new in zip(originals, news, strict=True) if old != new},
            "probability": probability,
        }
        yield Candidate(lattice, tuple(symbols[i] for i in ion_of_site), frac_coords, "substitution", seed_id, detail)
        yielded += 1
