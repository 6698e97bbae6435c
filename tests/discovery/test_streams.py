"""Novelty filter and deduplication over candidate streams, on real sample structures."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pymatgen.core import Structure

from discovery.generation.candidates import Candidate, GenerationError, from_structure
from discovery.generation.streams import StreamStats, pipeline, structurally_unique
from tests.conftest import read_sample_rows


@pytest.fixture(scope="module")
def real(data_dir) -> list[tuple[str, Structure]]:
    rows = [r for r in read_sample_rows(data_dir, 200) if r["nsites"] <= 12][:8]
    return [(r["material_id"], Structure.from_str(r["cif"], fmt="cif")) for r in rows]


def test_a_candidate_builds_its_structure_and_key_from_shared_arrays(real):
    material_id, s = real[0]
    c = from_structure(s, "substitution", material_id, {"map": {}})
    assert c.structure.composition.reduced_formula == s.composition.reduced_formula
    assert c.reduced_formula == s.composition.reduced_formula
    assert c.as_record()["parent"] == material_id and c.as_record()["method"] == "substitution"
    moved = Candidate(c.lattice, c.species, c.frac_coords + 1.0, "substitution", material_id)  # same crystal
    other = Candidate(c.lattice * 1.01, c.species, c.frac_coords, "substitution", material_id)
    assert moved.key == c.key and other.key != c.key
    with pytest.raises(GenerationError, match="disordered"):
        from_structure(Structure(s.lattice, [{"Fe": 0.5, "Ni": 0.5}], [[0, 0, 0]]), "x", "y")


def test_known_compositions_and_duplicates_are_dropped_and_counted(real):
    candidates = [from_structure(s, "substitution", i) for i, s in real]
    known = {candidates[0].reduced_formula}
    doubled = candidates + candidates[1:3]  # the same two again: exact duplicates
    stats = StreamStats()
    out = list(pipeline(iter(doubled), known_formulas=known, stats=stats))
    assert [c.key for c in out] == [c.key for c in candidates[1:]]
    assert stats.seen == len(doubled) and stats.known_composition == 1 and stats.exact_duplicate == 2
    assert stats.passed == len(candidates) - 1 and stats.by_method == {"substitution": len(candidates) - 1}
    assert len(list(pipeline(iter(doubled), known_formulas=known, include_known=True))) == len(candidates)
    assert len(list(pipeline(iter(doubled), dedup="none"))) == len(doubled)
    assert len(list(pipeline(itertools.cycle(candidates), dedup="none", limit=25))) == 25  # a limit ends an endless stream
    with pytest.raises(ValueError, match="dedup must be"):
        list(pipeline(iter(candidates), dedup="fuzzy"))


def test_structural_dedup_finds_the_same_crystal_in_another_setting(real):
    material_id, s = real[0]
    order = np.random.default_rng(1).permutation(len(s))
    shuffled = Structure(s.lattice, [s.species[i] for i in order], s.frac_coords[order] + 0.123)
    supercell = s * (1, 1, 2)
    variants = [from_structure(x, "saps", material_id) for x in (s, shuffled, supercell)]
    assert len({v.key for v in variants}) == 3  # three different keys ...
    stats = StreamStats()
    kept = list(structurally_unique(iter(variants + [from_structure(t, "saps", i) for i, t in real[1:]]), stats=stats))
    assert stats.structural_duplicate == 2 and kept[0] is variants[0]  # ... one crystal
    assert len(kept) == len(real)


def test_structural_dedup_remembers_a_bounded_window_of_compositions(real):
    candidates = [from_structure(s, "saps", i) for i, s in real]
    # window 1: the first composition is forgotten once a second one passes, so its repeat passes again
    again = list(structurally_unique(iter(candidates[:2] + candidates[:1]), window=1))
    assert len(again) == 3
    assert len(list(structurally_unique(iter(candidates[:2] + candidates[:1]), window=2))) == 2
