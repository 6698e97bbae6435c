"""Substitutions of a seed crystal with GNoME's changes to the Hautier et al. (2011) model. Pure.

The model is pymatgen's ``SubstitutionProbability`` (its shipped ``lambda.json`` pair weights) read so that the
learned ranking of pairs survives GNoME's changes:

- the weight of every pair *in the table* is clamped at zero, ``lambda <- max(lambda, 0)``: a pair observed only
  rarely is no longer penalised below the others, which widens the candidate set as GNoME did; a pair the table
  has never seen keeps pymatgen's ``alpha = -5``. (Clamping the unseen pairs to 0 as well made every one of the
  ~230 species an equally likely replacement of every ion, above the 1e-3 threshold: Li+ -> Pa5+ as likely as
  Li+ -> Na+.)
- the probability that an ion ``s`` is replaced by ``s'`` is ``P(s' | s replaced) = exp(lambda(s, s')) / (p_x(s) -
  exp(lambda(s, s)))``, normalised over the replacements of ``s``, so the replacements of one ion rank by their
  learned weight. (pymatgen's
  ``list_prediction(..., to_this_composition=False)`` multiplies ``cond_prob(s, s') = exp(lambda) / p_x(s')``,
  which divides by the *new* ion's marginal and so lifts rare ions: Li+ -> Ir5+ came second.)
- a species left unchanged contributes probability 1: only substituted positions multiply;
- mappings are kept above a threshold of 1e-3 by branch-and-bound (no factor exceeds 1, so a partial product at
  or below the threshold is pruned); a mapping sending two originals to one new species is dropped, and so is the
  identity;
- an ion is never replaced by one of the opposite sign (a cation by an anion or back) unless ``sign_change``
  asks for it, and elements without a stable isotope (``UNSTABLE_ELEMENTS``) are never brought in unless
  ``allowed`` names them.

Seeds without oxidation states (metals, intermetallics, elements the bond-valence analysis has no parameters
for) substitute at the element level: ``P(B | A)`` is the ion-pair table marginalised over the oxidation states,
``W(A, B) = sum over ions a of A and b of B of the same sign of exp(lambda(a, b))``, normalised over B.

Candidates keep the seed's fractional coordinates unrelaxed (as GNoME scored them) and, by default
(``DEFAULT_VOLUME``, measured to screen better), its cell scaled to the volume the new species imply
(``volume_ratio``); ``volume="seed"`` keeps the seed's cell itself, shared by every candidate of the seed.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Collection, Iterator, Sequence

import numpy as np
from pymatgen.analysis.bond_valence import BVAnalyzer
from pymatgen.analysis.structure_prediction.substitution_probability import SubstitutionProbability
from pymatgen.core import Element, Species, Structure, get_el_sp

from discovery.generation.candidates import UNSTABLE_ELEMENTS, Candidate, GenerationError

__all__ = [
    "DEFAULT_THRESHOLD",
    "DEFAULT_VOLUME",
    "VOLUMES",
    "GnomeSubstitutionProbability",
    "element_replacements",
    "ion_replacements",
    "is_charge_balanced",
    "seed_sites",
    "seed_species",
    "shared_geometry",
    "single_replacements",
    "substitution_mappings",
    "substitution_model",
    "substitutions",
    "volume_ratio",
]

DEFAULT_THRESHOLD = 1e-3  # GNoME's threshold on the probability of a substitution mapping
CHARGE_TOLERANCE = 1e-8  # |sum of oxidation states| below this counts as balanced (pymatgen's value)
VOLUMES = ("seed", "rescaled")  # keep the seed's cell, or scale it to the volume the new species imply
# measured on the shipped evaluated candidates (benchmarks/volume.py): the rescaled cell starts closer to the
# relaxed volume for 58% of them and lowers the screening MAE (test split 0.0589 -> 0.0574 eV/atom, F1 0.550
# -> 0.560; validation 0.0538 -> 0.0526)
DEFAULT_VOLUME = "rescaled"

Site = Species | Element  # an ion (the seed has oxidation states) or an element (it has none)


class GnomeSubstitutionProbability(SubstitutionProbability):
    """pymatgen's substitution probabilities with the table's weights clamped at zero, unseen pairs at ``alpha``
    (pymatgen's -5), the probability of a replacement normalised over the replacements of the original ion, and
    a unit factor for unchanged ions.

    The base constructor computes ``Z`` and ``p_x`` through ``get_lambda``, so the clamp reaches the normalisers.
    """

    def get_lambda(self, s1, s2) -> float:
        """The pair weight: the table's, clamped at zero; ``alpha`` for a pair the table does not hold."""
        weight = self._l.get(frozenset((get_el_sp(s1), get_el_sp(s2))))
        return self.alpha if weight is None else max(weight, 0.0)

    def replacement_prob(self, original, new) -> float:
        """``P(new | original replaced) = exp(lambda(original, new)) / (p_x(original) - exp(lambda(original,
        original)))``: summing to 1 over the species other than the original. An unchanged ion contributes 1
        (GNoME), so its own pair, which holds most of the weight of common ions (84% for O2-, 22% for Li+), is
        left out of the normaliser as well; 1 for ``new == original``."""
        original, new = get_el_sp(original), get_el_sp(new)
        if original == new:
            return 1.0
        own = math.exp(self.get_lambda(original, original))
        return math.exp(self.get_lambda(original, new)) / (self.get_px(original) - own)

    def cond_prob_list(self, l1, l2) -> float:
        """The probability of the original species ``l1`` becoming ``l2``, position by position.

        Positions where the species is unchanged contribute 1 ("probabilities are only computed when two
        compositions differ"); the others contribute ``replacement_prob(original, new)``.
        """
        if len(l1) != len(l2):
            raise ValueError(f"species lists differ in length: {len(l1)} original, {len(l2)} new")
        probability = 1.0
        for original, new in zip(l1, l2, strict=True):
            if get_el_sp(original) != get_el_sp(new):
                probability *= self.replacement_prob(original, new)
        return probability


@functools.cache
def substitution_model() -> GnomeSubstitutionProbability:
    """The one substitution model of the process (reading ``lambda.json`` once)."""
    return GnomeSubstitutionProbability(alpha=-5.0)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _allowed(symbol: str, allowed: frozenset[str] | None) -> bool:
    return symbol in allowed if allowed is not None else symbol not in UNSTABLE_ELEMENTS


@functools.cache
def _ion_table(original: Species, threshold: float, sign_change: bool) -> tuple[tuple[Species, float], ...]:
    model = substitution_model()
    if original not in model.species:
        return ()
    found = [(new, model.replacement_prob(original, new)) for new in model.species
             if new != original and (sign_change or _sign(new.oxi_state) == _sign(original.oxi_state))]
    return tuple(sorted(((n, p) for n, p in found if p > threshold), key=lambda pair: (-pair[1], str(pair[0]))))


def ion_replacements(original: Species, threshold: float = DEFAULT_THRESHOLD, *, sign_change: bool = False,
                     allowed: Collection[str] | None = None) -> tuple[tuple[Species, float], ...]:
    """Every ion other than ``original`` with ``P(new | original) > threshold``, highest first (ties by string
    form, the same in every process). Empty when the model does not know ``original``.

    Args:
        sign_change: allow a cation to become an anion or back.
        allowed: the elements a replacement may bring in (None: all but ``UNSTABLE_ELEMENTS``).
    """
    table = _ion_table(original, threshold, sign_change)
    allowed = frozenset(allowed) if allowed is not None else None
    return tuple((new, p) for new, p in table if _allowed(new.symbol, allowed))


@functools.cache
def _element_weights(sign_change: bool) -> dict[str, dict[str, float]]:
    """``W(A, B)``: the ion-pair weights ``exp(lambda(a, b))`` summed over the ions of A and B (of the same sign
    unless ``sign_change``), the element-level marginal of the ion table."""
    model = substitution_model()
    weights: dict[str, dict[str, float]] = {}
    for a in model.species:
        row = weights.setdefault(a.symbol, {})
        for b in model.species:
            if sign_change or _sign(a.oxi_state) == _sign(b.oxi_state):
                row[b.symbol] = row.get(b.symbol, 0.0) + math.exp(model.get_lambda(a, b))
    return weights


@functools.cache
def _element_table(original: str, threshold: float, sign_change: bool) -> tuple[tuple[Element, float], ...]:
    row = _element_weights(sign_change).get(original)
    if not row:
        return ()
    total = sum(w for b, w in row.items() if b != original)  # given a replacement, as for ions
    found = [(Element(b), w / total) for b, w in row.items() if b != original and w / total > threshold]
    return tuple(sorted(found, key=lambda pair: (-pair[1], pair[0].symbol)))


def element_replacements(original: Element, threshold: float = DEFAULT_THRESHOLD, *, sign_change: bool = False,
                         allowed: Collection[str] | None = None) -> tuple[tuple[Element, float], ...]:
    """For a seed without oxidation states: every element B other than ``original`` with ``P(B | A) > threshold``
    in the ion table marginalised over oxidation states, highest first (ties by symbol)."""
    table = _element_table(Element(str(original)).symbol, threshold, sign_change)
    allowed = frozenset(allowed) if allowed is not None else None
    return tuple((new, p) for new, p in table if _allowed(new.symbol, allowed))


def _replacements(original: Site, threshold: float, sign_change: bool, allowed) -> tuple[tuple[Site, float], ...]:
    if isinstance(original, Species):
        return ion_replacements(original, threshold, sign_change=sign_change, allowed=allowed)
    return element_replacements(original, threshold, sign_change=sign_change, allowed=allowed)


def substitution_mappings(
    species: Sequence[Site], threshold: float = DEFAULT_THRESHOLD, *, sign_change: bool = False,
    allowed: Collection[str] | None = None,
) -> list[tuple[dict[Site, Site], float]]:
    """The substitution mappings of these ions (or elements) with probability above the threshold, highest first.

    Args:
        species: oxidation-state-decorated ions, or elements for a seed without oxidation states (repeats are
            ignored); one the model does not know stays as it is.
        threshold: mappings at or below this probability are dropped.
        sign_change, allowed: as for ``ion_replacements``.

    Returns:
        ``(mapping, probability)`` pairs. Each mapping sends every original to its new species (unchanged ones
        map to themselves). The identity mapping and mappings sending two originals to one new species are left
        out. Ties are ordered by the string forms of the new species, position by position.

    The search is branch-and-bound: no position's factor exceeds 1 (an unchanged species gives exactly 1, a
    replacement its conditional probability), so a partial product at or below the threshold is pruned. Each
    position's options are sorted by probability, so the loop stops at the first option that falls below.
    """
    originals = list(dict.fromkeys(species))
    allowed = frozenset(allowed) if allowed is not None else None
    options = [((original, 1.0), *_replacements(original, threshold, sign_change, allowed)) for original in originals]
    found: list[tuple[dict[Site, Site], float]] = []

    def extend(chosen: list[Site], probability: float) -> None:
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
    species: Sequence[Site], threshold: float = DEFAULT_THRESHOLD, *, sign_change: bool = False,
    allowed: Collection[str] | None = None,
) -> dict[Site, list[tuple[Site, float]]]:
    """For each ion (or element), the species of another element that may replace it alone, with the
    single-substitution probability ``P(new | original)``.

    Ions of the same element (another oxidation state) are left out: on the element-level candidate they give the
    seed back. Unlike ``substitution_mappings`` this does not drop a new species already in the seed: a partial
    replacement (SAPS) merges no species. Lists are sorted highest first, ties by string form; a species the
    model does not know gets an empty list.
    """
    return {
        original: [(new, p) for new, p in _replacements(original, threshold, sign_change,
                                                        frozenset(allowed) if allowed is not None else None)
                   if new.symbol != original.symbol]
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


def seed_sites(structure: Structure, seed_id: str, *, threshold: float = DEFAULT_THRESHOLD,
               sign_change: bool = False) -> tuple[list[Site], str]:
    """What each site of the seed is for substitution, and at which level: ``(ions, "ion")`` when the bond-valence
    analysis assigns oxidation states and the model can replace at least one of the ions, else
    ``(elements, "element")`` (metals, intermetallics, elements without bond-valence parameters).

    Raises:
        GenerationError: a disordered seed.
    """
    try:
        ions = seed_species(structure, seed_id)
    except GenerationError:
        if not structure.is_ordered:
            raise
    else:
        if any(ion_replacements(ion, threshold, sign_change=sign_change) for ion in dict.fromkeys(ions)):
            return ions, "ion"
    return [Element(site.specie.symbol) for site in structure], "element"


def _radius(site: Site) -> float | None:
    with warnings.catch_warnings():  # "no default ionic radius for Cr3+, using ls data": a fine answer
        warnings.simplefilter("ignore")
        radius = site.ionic_radius if isinstance(site, Species) else None
    if radius is None:
        radius = Element(site.symbol).atomic_radius
    return None if radius is None else float(radius)


def volume_ratio(seed_counts: dict[Site, int], new_counts: dict[Site, int]) -> float:
    """The ratio of the new cell's volume to the seed's that the new species imply: the ratio of the summed
    sphere volumes, ``sum n r^3`` over the new species to the same over the seed's, with Shannon ionic radii
    for ions and atomic radii for elements (and for an ion without an ionic radius); 1 where a radius is
    unknown. (pymatgen's ``RLSVolumePredictor`` sums ``r n^(1/3)`` instead, which holds for a one-to-one
    substitution but not for a partial one: splitting 8 S2- sites into 7 S2- and 1 Se2- would double the cell.)"""
    totals = []
    for counts in (seed_counts, new_counts):
        total = 0.0
        for site, n in counts.items():
            if not n:
                continue
            radius = _radius(site)
            if radius is None:
                return 1.0
            total += n * radius ** 3
        totals.append(total)
    return totals[1] / totals[0] if totals[0] > 0 else 1.0


def scaled_lattice(lattice: np.ndarray, factor: float) -> np.ndarray:
    """The lattice with its volume multiplied by ``factor`` (shape kept), read-only."""
    out = np.array(lattice, dtype=float) * factor ** (1 / 3)
    out.setflags(write=False)
    return out


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


def check_volume(volume: str) -> None:
    if volume not in VOLUMES:
        raise GenerationError(f"volume must be one of {', '.join(VOLUMES)} (got {volume!r})")


def substitutions(
    seed_structure: Structure,
    seed_id: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    charge_balance: bool = False,
    sign_change: bool = False,
    allowed: Collection[str] | None = None,
    volume: str = DEFAULT_VOLUME,
    limit: int | None = None,
) -> Iterator[Candidate]:
    """Candidates of the seed with its ions (or, without oxidation states, its elements) substituted, most
    probable mapping first.

    Args:
        seed_structure: an ordered seed crystal (element or ion species); its geometry is kept unrelaxed.
        seed_id: the seed's material id, recorded as each candidate's parent.
        threshold: mappings at or below this probability are not made (GNoME: 1e-3).
        charge_balance: keep only products whose oxidation states (the seed's, with the substituted ones) sum to
            zero (GNoME's early rounds); off by default, as in its later rounds. Needs oxidation states.
        sign_change: allow a cation to be replaced by an anion or back (off by default).
        allowed: the elements a substitution may bring in (None: all but ``UNSTABLE_ELEMENTS``).
        volume: ``"seed"`` keeps the seed's cell; ``"rescaled"`` scales it by ``volume_ratio``.
        limit: stop after this many candidates.

    Yields:
        ``Candidate`` with method ``"substitution"``, parent ``seed_id`` and detail ``{"map": {"Na+": "K+", ...},
        "probability": p, "level": "ion" | "element"}`` (only the substituted species in the map; with
        ``volume="rescaled"`` also ``"volume_factor"``). Mappings that give the same element-level crystal (e.g.
        ``Fe2+`` and ``Fe3+`` as the replacement, or a change of oxidation state only) are made once, from the
        most probable mapping.

    Raises:
        GenerationError: a disordered seed, an unknown ``volume``, or ``charge_balance`` on a seed without
            oxidation states.
    """
    check_volume(volume)
    sites, level = seed_sites(seed_structure, seed_id, threshold=threshold, sign_change=sign_change)
    if charge_balance and level == "element":
        raise GenerationError(f"seed {seed_id} ({seed_structure.composition.reduced_formula}): charge balance "
                              "needs oxidation states, and none can be assigned")
    originals = list(dict.fromkeys(sites))
    site_of = [originals.index(site) for site in sites]
    counts = [site_of.count(i) for i in range(len(originals))]
    lattice, frac_coords = shared_geometry(seed_structure)
    seed_symbols = tuple(site.symbol for site in originals)
    made: set[tuple[str, ...]] = set()
    yielded = 0
    for mapping, probability in substitution_mappings(originals, threshold, sign_change=sign_change,
                                                      allowed=allowed):
        if limit is not None and yielded >= limit:
            return
        news = [mapping[site] for site in originals]
        if charge_balance and not is_charge_balanced(
                sum(n * new.oxi_state for n, new in zip(counts, news, strict=True))):
            continue
        symbols = tuple(new.symbol for new in news)
        if symbols == seed_symbols or symbols in made:
            continue
        made.add(symbols)
        detail = {
            "map": {str(old): str(new) for old, new in zip(originals, news, strict=True) if old != new},
            "probability": probability, "level": level,
        }
        cell = lattice
        if volume == "rescaled":
            after: dict[Site, int] = {}
            for new, n in zip(news, counts, strict=True):
                after[new] = after.get(new, 0) + n
            factor = volume_ratio(dict(zip(originals, counts, strict=True)), after)
            cell, detail["volume_factor"] = scaled_lattice(lattice, factor), round(factor, 6)
        yield Candidate(cell, tuple(symbols[i] for i in site_of), frac_coords, "substitution", seed_id, detail)
        yielded += 1
