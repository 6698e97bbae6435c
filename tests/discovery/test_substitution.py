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

from discovery.generation.candidates import GenerationError
from discovery.generation.substitution import (
    DEFAULT_THRESHOLD,
    seed_species,
    single_replacements,
    substitution_mappings,
    substitution_model,
    substitutions,
)

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
    """A hand computation of GNoME's clamped conditional probabilities from the raw lambda table.

    Returns ``(species, cond)`` where ``cond(original, new) = exp(max(lambda, 0)) / p_x(new)``, with unseen
    pairs at lambda = 0 and ``p_x(s) = sum over every species t of exp(max(lambda(s, t), 0))``.
    """
    def name(text: str) -> str:  # the table writes "Li1+"; Species prints "Li+"
        return str(Species.from_str(text))

    weights = {frozenset((name(a), name(b))): float(value) for a, b, value in lambda_rows}
    species = sorted({name(a) for a, _, _ in lambda_rows} | {name(b) for _, b, _ in lambda_rows})

    def clamped(a: str, b: str) -> float:
        return max(weights.get(frozenset((a, b)), 0.0), 0.0)

    p_x = {s: sum(math.exp(clamped(s, t)) for t in species) for s in species}

    def cond(original: str, new: str) -> float:
        return math.exp(clamped(original, new)) / p_x[new]

    return species, cond


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
    species, cond = hand_model
    # Every assignment of a new species (or the same one, factor 1) to each of the two ions, by brute force.
    expected = {}
    for new_a, new_b in itertools.product(species, repeat=2):
        if new_a == new_b or (new_a, new_b) == (str(a), str(b)):
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
    _, cond = hand_model
    model = substitution_model()
    (new, p_single), *_ = single_replacements([a, b])[a]

    assert model.cond_prob_list([a, b], [new, b]) == pytest.approx(model.cond_prob(a, new))
    assert model.cond_prob_list([a, b], [new, b]) == pytest.approx(cond(str(a), str(new)))
    assert p_single == pytest.approx(cond(str(a), str(new)))
    # The original product also multiplies in b's probability of staying b, which is below 1.
    original_product = SubstitutionProbability.cond_prob_list(model, [a, b], [new, b])
    assert original_product == pytest.approx(model.cond_prob(a, new) * model.cond_prob(b, b))
    assert original_product < model.cond_prob_list([a, b], [new, b])


def test_it_clamps_rare_pairs_to_at_least_the_original_probability(two_ions, lambda_rows):
    """Never-observed pairs (pymatgen: alpha = -5) get weight 0 and a conditional probability at least the original.

    (For pairs observed with a small negative weight the clamp also raises ``p_x`` of the new species, so their
    conditional probability can end up below the original; the test therefore asserts on the unseen pairs, and
    on the weights of the negative ones.)
    """
    a, b = two_ions
    gnome, original = substitution_model(), SubstitutionProbability()
    observed = {frozenset((Species.from_str(x), Species.from_str(y))) for x, y, _ in lambda_rows}
    unseen = [s for s in sorted(gnome.species, key=str) if frozenset((a, s)) not in observed]
    negative = [s for s in sorted(gnome.species, key=str) if original.get_lambda(a, s) < 0]
    assert unseen and negative

    for s in negative:
        assert gnome.get_lambda(a, s) == 0.0
    for s in unseen:
        assert gnome.get_lambda(a, s) == 0.0 and original.get_lambda(a, s) == original.alpha
        assert gnome.cond_prob(a, s) >= original.cond_prob(a, s)
        assert gnome.cond_prob_list([a, b], [s, b]) >= original.cond_prob_list([a, b], [s, b])
    # A rare pair the original model prunes at 1e-3 is now kept.
    kept = {m[a] for m, _ in substitution_mappings([a, b]) if m[b] == b}
    assert any(original.cond_prob_list([a, b], [s, b]) <= DEFAULT_THRESHOLD and s in kept for s in unseen)


def test_it_makes_candidates_of_the_seed(ternary_seed):
    seed_id, seed = ternary_seed
    candidates = list(substitutions(seed, seed_id))

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


def test_it_refuses_a_seed_without_oxidation_states(data_dir):
    """An intermetallic seed (every element a metal) has no ionic valences."""
    row = first_row(data_dir, lambda r: all(Element(symbol).is_metal for symbol in r["elements"].split("-")))
    seed = structure_of(row)

    with pytest.raises(GenerationError, match=f"seed {row['material_id']}.*oxidation states"):
        next(substitutions(seed, row["material_id"]))
