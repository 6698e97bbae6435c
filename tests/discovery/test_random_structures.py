"""Random symmetric structures with the soft-sphere pre-relaxation, for a real GNoME sample composition."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from ase.data import covalent_radii
from pymatgen.core import Composition, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from discovery.generation.candidates import GenerationError
from discovery.generation.random_structures import (
    MIN_SEPARATION,
    RandomStructureStats,
    SoftSphereCalculator,
    estimated_volume,
    random_structures,
    soft_sphere_relax,
    too_close,
)
from tests.conftest import read_sample_rows

FACTORS = (0.4, 1.2)


@pytest.fixture(scope="module")
def rows(data_dir) -> list[dict]:
    return read_sample_rows(data_dir, 300)


@pytest.fixture(scope="module")
def formula(rows) -> str:
    """The first ternary of the sample with at most 6 atoms per formula unit (Hf4AlAs)."""
    return next(r["reduced_formula"] for r in rows
                if r["nelements"] == 3 and Composition(r["reduced_formula"]).num_atoms <= 6)


@pytest.fixture(scope="module")
def generated(formula):
    stats = RandomStructureStats()
    candidates = list(random_structures(formula, 8, seed=0, volume_factors=FACTORS, max_formula_units=2, stats=stats))
    return candidates, stats


def closest_pairs_ratio(structure: Structure) -> float:
    """Smallest distance over the covalent-radius sum, over all pairs and periodic images (own images too)."""
    radii = covalent_radii[[site.specie.Z for site in structure]]
    sums = radii[:, None] + radii[None, :]
    matrix = structure.distance_matrix  # minimum image, i != j
    ratio = float(np.min((matrix + np.diag(np.full(len(structure), np.inf))) / sums))
    centres, points, _, distances = structure.get_neighbor_list(2 * float(radii.max()))
    if len(distances):
        ratio = min(ratio, float(np.min(distances / sums[centres, points])))
    return ratio


def test_random_structures_have_the_composition_method_and_parent(generated, formula):
    candidates, stats = generated
    assert len(candidates) == 8 and stats.yielded == 8
    for candidate in candidates:
        assert candidate.reduced_formula == formula == candidate.parent
        assert candidate.method == "random"
        assert set(candidate.detail) == {"space_group", "formula_units", "volume_factor", "attempt"}
        assert len(candidate.species) == candidate.detail["formula_units"] * Composition(formula).num_atoms
        assert 1 <= candidate.detail["space_group"] <= 230
    assert len({c.detail["space_group"] for c in candidates}) > 1
    assert stats.attempts == stats.yielded + stats.unbuildable + stats.overlapping


def test_no_two_atoms_are_closer_than_the_minimum_after_the_pre_relaxation(generated):
    for candidate in generated[0]:
        assert closest_pairs_ratio(candidate.structure) >= MIN_SEPARATION - 1e-9


def test_volumes_follow_the_drawn_factor_of_the_radius_estimate(generated, formula):
    candidates, _ = generated
    per_unit = estimated_volume(formula)
    for candidate in candidates:
        factor = candidate.detail["volume_factor"]
        assert FACTORS[0] <= factor <= FACTORS[1]
        assert candidate.structure.volume == pytest.approx(factor * candidate.detail["formula_units"] * per_unit,
                                                           rel=1e-6)
    assert max(c.detail["volume_factor"] for c in candidates) - min(c.detail["volume_factor"] for c in candidates) > 0.2


def test_the_volume_estimate_is_a_typical_real_density(rows):
    # real cell volume over the estimate, first 300 sample rows: median 1.0 by construction (measured 1.01)
    ratios = [float(re.search(r"_cell_volume\s+([\d.]+)", row["cif"]).group(1))
              / estimated_volume(row["composition"]) for row in rows]
    assert 0.9 < float(np.median(ratios)) < 1.1


def test_the_same_seed_gives_the_same_structures_and_another_seed_others(generated, formula):
    again = list(random_structures(formula, 3, seed=0, volume_factors=FACTORS, max_formula_units=2))
    assert [c.key for c in again] == [c.key for c in generated[0][:3]]
    other = list(random_structures(formula, 3, seed=1, volume_factors=FACTORS, max_formula_units=2))
    assert not {c.key for c in other} & {c.key for c in generated[0]}


def test_structures_still_too_close_are_dropped_and_counted(formula):
    # no real crystal has all its distances at 0.99 x the covalent sums (the soft spheres touch at 0.85 x)
    stats = RandomStructureStats()
    kept = list(random_structures(formula, 2, seed=0, max_formula_units=1, max_attempts=4, min_separation=0.99,
                                  stats=stats))
    assert stats.overlapping >= 1 and stats.attempts == 4
    assert len(kept) == stats.yielded == 4 - stats.overlapping - stats.unbuildable
    assert all(closest_pairs_ratio(c.structure) >= 0.99 - 1e-9 for c in kept)


def test_the_soft_sphere_forces_are_minus_the_energy_gradient(rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = Structure.from_str(rows[0]["cif"], fmt="cif")
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.set_cell(atoms.cell * 0.8, scale_atoms=True)  # compressed: many overlapping pairs
    atoms.calc = SoftSphereCalculator()
    forces = atoms.get_forces()
    assert atoms.get_potential_energy() > 0 and np.abs(forces).max() > 0.01
    step = 1e-5
    for index, axis in [(0, 0), (3, 1), (len(atoms) - 1, 2)]:
        shifted = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[index, axis] += sign * step
            moved.calc = SoftSphereCalculator()
            shifted.append(moved.get_potential_energy())
        assert forces[index, axis] == pytest.approx(-(shifted[0] - shifted[1]) / (2 * step), abs=1e-6)


def test_the_pre_relaxation_separates_overlapping_atoms_of_a_real_crystal(rows):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = Structure.from_str(rows[0]["cif"], fmt="cif")
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.1, 0.0]  # an atom almost on top of another
    assert too_close(atoms)
    soft_sphere_relax(atoms)
    assert not too_close(atoms)
    assert np.allclose(atoms.cell.array, structure.lattice.matrix)  # the cell (and so the volume) is kept


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"composition": "Li3Qq"}, "Qq is no element"),
    ({"composition": "Li3PS4", "volume_factors": (1.2, 0.4)}, "0 < low <= high"),
    ({"composition": "Li3PS4", "n": -1}, "n must be"),
    ({"composition": "Li3PS4", "max_formula_units": 0}, "max_formula_units"),
    ({"composition": {"Li": 1.5, "P": 1}}, "amount of Li must be an integer"),
])
def test_bad_input_fails_at_the_call_naming_what_is_wrong(kwargs, fragment):
    with pytest.raises(GenerationError, match=fragment):
        random_structures(**kwargs)
