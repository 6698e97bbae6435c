"""Symmetry-aware partial substitutions on real seeds from the GNoME sample, checked against brute force."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Element, Species, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from discovery.generation.candidates import GenerationError
from discovery.generation.saps import saps, site_permutations, symmetry_distinct_subsets
from discovery.generation.substitution import (
    seed_species,
    single_replacements,
    substitution_model,
    substitutions,
)

from .sample_rows import first_row, structure_of


def ions_of(structure: Structure, seed_id: str) -> list[Species] | None:
    """The seed's ions per site, when it has one valence per element and the model knows every ion."""
    try:
        ions = seed_species(structure, seed_id)
    except GenerationError:
        return None
    distinct = set(ions)
    if len(distinct) != len({ion.symbol for ion in ions}) or not distinct <= substitution_model().species:
        return None
    return ions


def with_replaced(seed: Structure, sites: tuple[int, ...], symbol: str) -> Structure:
    species = [site.specie.symbol for site in seed]
    for index in sites:
        species[index] = symbol
    return Structure(seed.lattice, species, seed.frac_coords)


@pytest.fixture(scope="module")
def cubic_seed(data_dir) -> tuple[str, Structure, Species]:
    """The first small cubic sample seed with an ion on 4 to 8 sites: the seed and that ion (most sites)."""

    def fits(row: dict) -> bool:
        if row["crystal_system"] != "cubic" or row["nsites"] > 16:
            return False
        ions = ions_of(structure_of(row), row["material_id"])
        return ions is not None and any(4 <= n <= 8 for n in Counter(ions).values())

    row = first_row(data_dir, fits)
    seed = structure_of(row)
    counts = Counter(ions_of(seed, row["material_id"]))
    ion = max((ion for ion, n in counts.items() if n <= 8), key=lambda ion: (counts[ion], str(ion)))
    return row["material_id"], seed, ion


@pytest.fixture(scope="module")
def doubled_perovskite(data_dir) -> tuple[str, Structure, Species, Species]:
    """A two-formula-unit A2B2X6 cell of a real cubic ABX3 perovskite seed, with its B ion (one the model knows).

    The sample's 10-site ABX3 rows are not corner-sharing cubic perovskites, so the first cubic 5-site ABX3 row
    whose B cation sits in an octahedron of six X anions is taken, and its conventional cubic cell (one formula
    unit) is doubled along the face diagonals (supercell [[0,1,1],[1,0,1],[1,1,0]]). In that fcc cell the two B
    sites alternate like rock salt, the ordering of real A2BB'X6 double perovskites, and they are related by a
    pure translation of the parent cubic cell, which SAPS must count as a symmetry.
    """

    def octahedral_b(row: dict) -> tuple[Structure, Species, Species] | None:
        if row["crystal_system"] != "cubic" or row["nsites"] != 5:
            return None
        seed = structure_of(row)
        try:
            ions = seed_species(seed, row["material_id"])
        except GenerationError:
            return None
        if sorted(Counter(ions).values()) != [1, 1, 3]:
            return None
        anion = next(ion for ion, n in Counter(ions).items() if n == 3)
        if anion.oxi_state >= 0:
            return None
        for index, ion in enumerate(ions):
            if ion.oxi_state > 0 and ion in substitution_model().species:
                neighbours = seed.get_neighbors(seed[index], 4.0)
                closest = min(n.nn_distance for n in neighbours)
                shell = [n for n in neighbours if n.nn_distance < 1.2 * closest]
                if len(shell) == 6 and all(n.specie.symbol == anion.symbol for n in shell):
                    return seed, ion, anion
        return None

    row = first_row(data_dir, lambda r: octahedral_b(r) is not None)
    _, b_ion, anion = octahedral_b(row)
    conventional = SpacegroupAnalyzer(structure_of(row), symprec=0.1).get_conventional_standard_structure()
    conventional.make_supercell([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    return row["material_id"], conventional, b_ion, anion


def test_it_matches_brute_force_with_structure_matcher(cubic_seed):
    seed_id, seed, ion = cubic_seed
    sites = [i for i, site_ion in enumerate(seed_species(seed, seed_id)) if site_ion == ion]
    elements = {site.specie.symbol for site in seed}
    new = next(new for new, _ in single_replacements([ion])[ion] if new.symbol not in elements)
    made = [c for c in saps(seed, seed_id, max_per_seed=None)
            if c.detail["from"] == str(ion) and c.detail["to"] == str(new)]
    matcher = StructureMatcher()

    for k in range(1, len(sites) + 1):
        subsets = list(itertools.combinations(sites, k))
        groups = matcher.group_structures([with_replaced(seed, subset, new.symbol) for subset in subsets])
        found = [tuple(c.detail["sites"]) for c in made if c.detail["k"] == k]
        assert len(found) == len(groups), f"k={k}: {len(found)} SAPS subsets, {len(groups)} distinct structures"
        # Each group of equivalent structures holds exactly one SAPS subset.
        group_of = {
            tuple(i for i in sites if structure[i].specie.symbol == new.symbol): g
            for g, group in enumerate(groups)
            for structure in group
        }
        assert len(group_of) == len(subsets)
        assert sorted(group_of[subset] for subset in found) == list(range(len(groups)))


def test_it_finds_the_orbits_of_a_naive_canonical_form(cubic_seed):
    seed_id, seed, ion = cubic_seed
    permutations = site_permutations(seed, seed_id)
    sites = [i for i, site_ion in enumerate(seed_species(seed, seed_id)) if site_ion == ion]
    naive = {
        min(tuple(sorted(int(p[i]) for i in subset)) for p in permutations)
        for k in range(1, len(sites) + 1)
        for subset in itertools.combinations(sites, k)
    }

    found = list(symmetry_distinct_subsets(permutations, sites))

    assert set(found) == naive and len(found) == len(naive)
    assert [len(s) for s in found] == sorted(len(s) for s in found)
    assert list(symmetry_distinct_subsets(permutations, sites, max_k=2)) == [s for s in found if len(s) <= 2]


def test_it_makes_a_double_perovskite_from_a_doubled_perovskite(doubled_perovskite):
    seed_id, seed, b_ion, anion = doubled_perovskite
    b_sites = [i for i, site in enumerate(seed) if site.specie.symbol == b_ion.symbol]
    assert len(b_sites) == 2 and seed.composition.reduced_composition == seed.composition / 2

    elements = {site.specie.symbol for site in seed}
    partial = [c for c in saps(seed, seed_id, max_per_seed=None) if c.detail["from"] == str(b_ion)]
    single = [c for c in partial if c.detail["k"] == 1 and Species.from_str(c.detail["to"]).symbol not in elements]

    # The two B sites are equivalent (a pure translation), so each replacement gives one k = 1 candidate.
    assert len(single) == len({c.detail["to"] for c in single}) > 0
    for candidate in single:
        new_symbol = Species.from_str(candidate.detail["to"]).symbol
        a_symbol = next(s.specie.symbol for s in seed if s.specie.symbol not in (b_ion.symbol, anion.symbol))
        assert dict(candidate.composition.element_composition.as_dict()) == {
            a_symbol: 2, b_ion.symbol: 1, new_symbol: 1, anion.symbol: 6}
        # Rock-salt order: each B' has only B at the B-B distance (half the face diagonal of the doubled cell).
        (b_prime,) = candidate.detail["sites"]
        structure = candidate.structure
        b_b = structure.get_distance(b_sites[0], b_sites[1])
        neighbours = [n for n in structure.get_neighbors(structure[b_prime], b_b + 0.1)
                      if n.specie.symbol in (b_ion.symbol, new_symbol)]
        assert len(neighbours) == 6 and {n.specie.symbol for n in neighbours} == {b_ion.symbol}
    # Whole-species substitution never separates the two B sites.
    for candidate in substitutions(seed, seed_id):
        assert candidate.species[b_sites[0]] == candidate.species[b_sites[1]]


def test_it_carries_method_parent_and_the_replaced_sites(cubic_seed):
    seed_id, seed, _ = cubic_seed
    ions = [str(ion) for ion in seed_species(seed, seed_id)]
    candidates = list(saps(seed, seed_id, max_per_seed=60, max_k=3, volume="seed"))

    assert len(candidates) == 60
    for candidate in candidates:
        detail = candidate.detail
        assert candidate.method == "saps" and candidate.parent == seed_id
        assert candidate.lattice is candidates[0].lattice and candidate.frac_coords is candidates[0].frac_coords
        assert 1 <= detail["k"] == len(detail["sites"]) <= 3
        assert all(ions[i] == detail["from"] for i in detail["sites"])
        changed = [i for i, (site, symbol) in enumerate(zip(seed, candidate.species, strict=True))
                   if site.specie.symbol != symbol]
        assert changed == detail["sites"]
        assert {candidate.species[i] for i in changed} == {Species.from_str(detail["to"]).symbol}
    probabilities = [c.detail["probability"] for c in candidates]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len({c.key for c in candidates}) == len(candidates)


def test_it_is_deterministic_and_keeps_the_full_replacement(cubic_seed):
    seed_id, seed, ion = cubic_seed
    keys = [c.key for c in saps(seed, seed_id)]
    assert keys == [c.key for c in saps(seed, seed_id)] and len(keys) == 200

    n_sites = Counter(seed_species(seed, seed_id))[ion]
    elements = {site.specie.symbol for site in seed}
    full = next(c for c in saps(seed, seed_id, max_per_seed=None)
                if c.detail["k"] == n_sites and c.detail["from"] == str(ion)
                and Species.from_str(c.detail["to"]).symbol not in elements)
    same = [c for c in substitutions(seed, seed_id) if c.detail["map"] == {full.detail["from"]: full.detail["to"]}]
    assert [c.key for c in same] == [full.key]


def test_it_keeps_only_neutral_replacements_when_asked(cubic_seed):
    seed_id, seed, _ = cubic_seed
    balanced = list(saps(seed, seed_id, max_per_seed=None, max_k=1, charge_balance=True))

    assert balanced
    for candidate in balanced:
        old, new = (Species.from_str(candidate.detail[end]) for end in ("from", "to"))
        assert old.oxi_state == new.oxi_state


def test_a_seed_without_oxidation_states_replaces_elements(data_dir):
    """RbH3Au (no bond-valence parameters for Au) and the first all-metal seed: element-level SAPS."""
    for accept in (lambda r: r["material_id"] == "00502f2aa4",
                   lambda r: all(Element(symbol).is_metal for symbol in r["elements"].split("-"))):
        row = first_row(data_dir, accept)
        seed = structure_of(row)
        with pytest.raises(GenerationError):
            seed_species(seed, row["material_id"])
        candidates = list(saps(seed, row["material_id"], max_per_seed=50))
        assert candidates and all(c.detail["level"] == "element" for c in candidates)
        for c in candidates:
            old, new = c.detail["from"], c.detail["to"]
            assert Element(old).symbol == old and Element(new).symbol == new and old != new
            assert [c.species[i] for i in c.detail["sites"]] == [new] * c.detail["k"]
            assert all(s == site.specie.symbol for i, (s, site) in enumerate(zip(c.species, seed, strict=True))
                       if i not in c.detail["sites"])
        with pytest.raises(GenerationError, match="charge balance needs oxidation states"):
            next(saps(seed, row["material_id"], charge_balance=True))


def test_the_rescaled_volume_follows_the_replaced_sites(cubic_seed):
    seed_id, seed, ion = cubic_seed
    plain = {c.key: c for c in saps(seed, seed_id, max_per_seed=60)}
    rescaled = list(saps(seed, seed_id, max_per_seed=60, volume="rescaled"))
    assert len(rescaled) == len(plain)
    for c in rescaled:
        volume = abs(np.linalg.det(c.lattice))
        assert volume == pytest.approx(seed.volume * c.detail["volume_factor"], rel=1e-5)
        np.testing.assert_allclose(c.frac_coords, seed.frac_coords)
    grown = [c for c in rescaled if c.detail["volume_factor"] > 1]
    shrunk = [c for c in rescaled if c.detail["volume_factor"] < 1]
    assert grown and shrunk
    # more sites of a bigger ion: a bigger cell
    by_target = {}
    for c in grown:
        by_target.setdefault((c.detail["from"], c.detail["to"]), []).append((c.detail["k"], c.detail["volume_factor"]))
    k_and_f = max(by_target.values(), key=len)
    assert [f for _, f in sorted(k_and_f)] == sorted(f for _, f in k_and_f)


def test_it_counts_supercell_translations_as_symmetry(doubled_perovskite):
    seed_id, seed, b_ion, _ = doubled_perovskite
    permutations = site_permutations(seed, seed_id)
    b_sites = [i for i, site in enumerate(seed) if site.specie.symbol == b_ion.symbol]

    assert any(p[b_sites[0]] == b_sites[1] for p in permutations)
    assert np.array_equal(np.sort(permutations, axis=1), np.tile(np.arange(len(seed)), (len(permutations), 1)))
