"""GNoME's ionic substitution model and the substitution generator, on real seeds from the GNoME sample."""

from __future__ import annotations

import inspect
import itertools
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pymatgen.analysis.structure_prediction.substitution_probability import SubstitutionProbability
from pymatgen.core import Element, Species, Structure

from discovery.generation.candidates import UNSTABLE_ELEMENTS, GenerationError
from discovery.generation.substitution import (
    DEFAULT_THRESHOLD,
    element_replacements,
    ion_replacements,
    seed_species,
    single_replacements,
    substitution_mappings,
    substitution_model,
    substitutions,
)
from tests.conftest import read_sample_rows

from .sample_rows import first_row, structure_of


def known_ions(row: dict) -> list[Species] | None:
    """The seed's distinct ions (bond-valence analysis), when there is one per element and the model knows each."""
    try:
        ions = list(dict.fromkeys(seed_species(structure_of(row), row["material_id"])))
    except GenerationError:
        return None
    known = substitution_model().species
    return ions if len(ions) == row["nelements"] and all(ion in known for ion in ions) else None


@pytest.fixture(scope="module")
def lambda_rows() -> list[list]:
    """pymatgen's shipped lambda.json, read directly (without pymatgen's model), minus its dummy-species rows."""
    path = Path(inspect.getfile(SubstitutionProbability)).parent / "data" / "lambda.json"
    return [row for row in json.loads(path.read_text()) if "D1+" not in row]


@pytest.fixture(scope="module")
def hand_model(lambda_rows):
    """A hand computation of the conditional probabilities from the raw lambda table.

    Returns ``(species, cond, weight)``: ``weight(a, b)`` is the table's lambda clamped at 0, or -5 for a pair
    the table lacks; ``cond(original, new) = exp(weight(original, new)) / sum over t != original of
    exp(weight(original, t))``.
    """
    def name(text: str) -> str:  # the table writes "Li1+"; Species prints "Li+"
        return str(Species.from_str(text))

    weights = {frozenset((name(a), name(b))): float(value) for a, b, value in lambda_rows}
    species = sorted({name(a) for a, _, _ in lambda_rows} | {name(b) for _, b, _ in lambda_rows})

    def weight(a: str, b: str) -> float:
        value = weights.get(frozenset((a, b)))
        return -5.0 if value is None else max(value, 0.0)

    others = {s: sum(math.exp(weight(s, t)) for t in species if t != s) for s in species}

    def cond(original: str, new: str) -> float:
        return math.exp(weight(original, new)) / others[original]

    return species, cond, weight


def same_sign(a: str, b: str) -> bool:
    return (Species.from_str(a).oxi_state > 0) == (Species.from_str(b).oxi_state > 0)


@pytest.fixture(scope="module")
def ternary_row(data_dir) -> dict:
    """The first small ternary sample row whose ions the model knows (one valence per element)."""
    return first_row(data_dir, lambda r: r["nelements"] == 3 and r["nsites"] <= 12 and known_ions(r) is not None)


@pytest.fixture(scope="module")
def ternary_seed(ternary_row) -> tuple[str, Structure]:
    return ternary_row["material_id"], structure_of(ternary_row)


@pytest.fixture(scope="module")
def two_ions(ternary_row) -> list[Species]:
    """A cation and the anion of the real ternary seed.

    The sample's binary rows (Cs1S23, Rb1Se37 and the like) have no bond-valence ions the model knows, so the
    two-ion case takes two ions of a real seed.
    """
    ions = sorted(known_ions(ternary_row), key=lambda ion: (ion.oxi_state < 0, str(ion)))
    return [ions[0], ions[-1]]


def test_it_matches_a_hand_computation_for_two_ions(two_ions, hand_model):
    a, b = two_ions
    species, cond, _ = hand_model
    # Every assignment of a new species (or the same one, factor 1) to each of the two ions, by brute force,
    # without a change of sign and without elements that have no stable isotope.
    expected = {}
    for new_a, new_b in itertools.product(species, repeat=2):
        if new_a == new_b or (new_a, new_b) == (str(a), str(b)):
            continue
        if not (same_sign(str(a), new_a) and same_sign(str(b), new_b)):
            continue
        if {Species.from_str(new_a).symbol, Species.from_str(new_b).symbol} & UNSTABLE_ELEMENTS:
            continue
        p = (1.0 if new_a == str(a) else cond(str(a), new_a)) * (1.0 if new_b == str(b) else cond(str(b), new_b))
        if p > DEFAULT_THRESHOLD:
            expected[(new_a, new_b)] = p

    found = substitution_mappings([a, b])

    assert {(str(m[a]), str(m[b])) for m, _ in found} == set(expected)
    for mapping, p in found:
        assert p == pytest.approx(expected[(str(mapping[a]), str(mapping[b]))], rel=1e-12)
    probabilities = [p for _, p in found]
    assert probabilities == sorted(probabilities, reverse=True)
    double = [(m, p) for m, p in found if m[a] != a and m[b] != b]
    assert double, "the two-ion case has substitutions of both ions"


def test_it_gives_unchanged_species_a_factor_of_one(two_ions, hand_model):
    a, b = two_ions
    _, cond, _ = hand_model
    model = substitution_model()
    (new, p_single), *_ = single_replacements([a, b])[a]

    assert model.cond_prob_list([a, b], [new, b]) == pytest.approx(model.replacement_prob(a, new))
    assert p_single == pytest.approx(cond(str(a), str(new)))
    assert model.replacement_prob(b, b) == 1.0
    # pymatgen's product also multiplies in b's probability of staying b, which is below 1
    original_product = SubstitutionProbability.cond_prob_list(model, [a, b], [new, b])
    assert original_product < model.cond_prob_list([a, b], [new, b])


def test_the_replacements_of_an_ion_rank_by_their_learned_weight(ternary_row, hand_model, lambda_rows):
    """Clamping keeps the table's order: every replacement kept is a pair the table holds, in the order of its
    weight, and no pair the table never saw passes the threshold (it did when unseen pairs were clamped too)."""
    _, _, weight = hand_model
    observed = {frozenset((str(Species.from_str(x)), str(Species.from_str(y)))) for x, y, _ in lambda_rows}
    for ion in known_ions(ternary_row):
        replacements = ion_replacements(ion)
        assert replacements
        names = [str(new) for new, _ in replacements]
        assert all(frozenset((str(ion), n)) in observed for n in names)
        weights = [weight(str(ion), n) for n in names]
        assert weights == sorted(weights, reverse=True)
        assert all(same_sign(str(ion), n) and Species.from_str(n).symbol not in UNSTABLE_ELEMENTS for n in names)
    lithium = [str(new) for new, _ in ion_replacements(Species("Li", 1))]
    sulphur = [str(new) for new, _ in ion_replacements(Species("S", -2))]
    aluminium = [str(new) for new, _ in ion_replacements(Species("Al", 3))]
    assert lithium[0] == "Na+" and sulphur[0] == "Se2-" and "Ga3+" in aluminium[:2]
    assert "Pa5+" not in lithium and not any(n.startswith("Cu") for n in sulphur)
    # the table does hold Li+ -> Bi5+ (lambda 1.43): kept, but 20 times less likely than Li+ -> Na+
    p_li = dict((str(n), p) for n, p in ion_replacements(Species("Li", 1)))
    assert p_li["Na+"] > 20 * p_li["Bi5+"]


def test_li5als4_gives_chemistry(data_dir):
    """The issue's seed: 300 candidates, no cation for an anion or back, the most probable swaps S -> Se,
    Li -> Na, Al -> Ga."""
    row = first_row(data_dir, lambda r: r["material_id"] == "0ee8478064")
    seed = structure_of(row)
    candidates = list(substitutions(seed, row["material_id"], limit=320))
    assert len(candidates) >= 300
    for c in candidates:
        assert all(same_sign(old, new) for old, new in c.detail["map"].items())
        assert not set(c.species) & UNSTABLE_ELEMENTS and c.detail["level"] == "ion"
    top = [c.detail["map"] for c in candidates[:10]]
    assert {"S2-": "Se2-"} == top[0] and {"Li+": "Na+"} in top and {"Al3+": "Ga3+"} in top
    # with the sign change allowed the anion may become a cation again
    flipped = list(substitutions(seed, row["material_id"], sign_change=True, limit=2000))
    assert any(not same_sign(old, new) for c in flipped for old, new in c.detail["map"].items())
    # and an element without a stable isotope comes in only when allowed
    assert not any("Th" in c.species for c in flipped)
    thorium = list(substitutions(seed, row["material_id"], allowed={"Li", "Al", "S", "Na", "Th"}))
    assert any("Th" in c.species for c in thorium) and all(set(c.species) <= {"Li", "Al", "S", "Na", "Th"}
                                                           for c in thorium)


def test_an_intermetallic_seed_substitutes_elements(data_dir):
    """LiAl2Cu3 has no oxidation states: the element-level table (the ion table summed over oxidation states)."""
    row = first_row(data_dir, lambda r: r["material_id"] == "4c577f54fc")
    seed = structure_of(row)
    with pytest.raises(GenerationError, match="oxidation states"):
        seed_species(seed, row["material_id"])
    candidates = list(substitutions(seed, row["material_id"], limit=300))
    assert len(candidates) == 300 and all(c.detail["level"] == "element" for c in candidates)
    firsts: dict[str, str] = {}  # each element's most probable single replacement
    for c in candidates:
        if len(c.detail["map"]) == 1:
            firsts.setdefault(*next(iter(c.detail["map"].items())))
    assert firsts.get("Cu") in {"Ag", "Zn"} and firsts.get("Al") in {"Ga", "Fe", "Cr"} and firsts.get("Li") == "Na"
    # the element table is a distribution: each row sums to at most 1 over the other elements
    for element in ("Li", "Al", "Cu"):
        total = sum(p for _, p in element_replacements(Element(element), threshold=0.0))
        assert 0.9 < total <= 1.0 + 1e-9
    with pytest.raises(GenerationError, match="charge balance needs oxidation states"):
        next(substitutions(seed, row["material_id"], charge_balance=True))


def test_almost_every_sample_crystal_can_seed(data_dir):
    """At least 95% of a real slice of the sample (the first 300 rows, every kind of crystal) seeds a
    substitution and a partial substitution."""
    from discovery.generation.saps import saps

    rows = read_sample_rows(data_dir, 300)
    seeded = {"substitution": 0, "saps": 0}
    for row in rows:
        seed = structure_of(row)
        for name, make in (("substitution", substitutions), ("saps", saps)):
            try:
                seeded[name] += next(iter(make(seed, row["material_id"])), None) is not None
            except GenerationError:
                pass
    assert seeded["substitution"] >= 0.95 * len(rows) and seeded["saps"] >= 0.95 * len(rows), seeded


def test_the_rescaled_cell_follows_the_new_radii(data_dir):
    row = first_row(data_dir, lambda r: r["material_id"] == "0ee8478064")
    seed = structure_of(row)
    by_map = {json.dumps(c.detail["map"]): c for c in substitutions(seed, row["material_id"], volume="rescaled")}
    na, se = by_map[json.dumps({"Li+": "Na+"})], by_map[json.dumps({"S2-": "Se2-"})]
    for c in (na, se):
        assert abs(np.linalg.det(c.lattice)) == pytest.approx(seed.volume * c.detail["volume_factor"], rel=1e-6)
    # Na+ (1.16 Å) for Li+ (0.90 Å) on 5 of 10 sites, the four S2- (1.70 Å) unchanged
    li, na_r, s_r = 0.90, 1.16, 1.70
    assert na.detail["volume_factor"] == pytest.approx((5 * na_r**3 + 0.675**3 + 4 * s_r**3)
                                                      / (5 * li**3 + 0.675**3 + 4 * s_r**3), rel=1e-3)
    assert na.detail["volume_factor"] > 1 and se.detail["volume_factor"] > 1
    with pytest.raises(GenerationError, match="volume must be one of seed, rescaled"):
        next(substitutions(seed, row["material_id"], volume="relaxed"))


def test_it_makes_candidates_of_the_seed(ternary_seed):
    seed_id, seed = ternary_seed
    candidates = list(substitutions(seed, seed_id, volume="seed"))

    assert candidates
    site_ions = [str(ion) for ion in seed_species(seed, seed_id)]
    for candidate in candidates:
        assert candidate.method == "substitution" and candidate.parent == seed_id
        assert candidate.lattice is candidates[0].lattice and candidate.frac_coords is candidates[0].frac_coords
        np.testing.assert_allclose(candidate.frac_coords, seed.frac_coords)
        mapping = candidate.detail["map"]
        assert mapping and all(old != new for old, new in mapping.items())
        assert list(candidate.species) == [Species.from_str(mapping.get(ion, ion)).symbol for ion in site_ions]
    probabilities = [c.detail["probability"] for c in candidates]
    assert probabilities == sorted(probabilities, reverse=True) and min(probabilities) > DEFAULT_THRESHOLD
    assert len({c.key for c in candidates}) == len(candidates)


def test_it_is_deterministic_and_honours_the_limit(ternary_seed):
    seed_id, seed = ternary_seed
    keys = [c.key for c in substitutions(seed, seed_id)]

    assert keys == [c.key for c in substitutions(seed, seed_id)]
    assert [c.key for c in substitutions(seed, seed_id, limit=7)] == keys[:7]


def test_it_keeps_only_neutral_products_when_asked(ternary_seed):
    seed_id, seed = ternary_seed
    counts = Counter(seed_species(seed, seed_id))
    balanced = list(substitutions(seed, seed_id, charge_balance=True))

    assert 0 < len(balanced) < len(list(substitutions(seed, seed_id)))
    for candidate in balanced:
        new_of = {Species.from_str(old): Species.from_str(new) for old, new in candidate.detail["map"].items()}
        charge = sum(n * new_of.get(ion, ion).oxi_state for ion, n in counts.items())
        assert charge == pytest.approx(0.0, abs=1e-8)
