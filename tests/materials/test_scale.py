"""The synthetic scale-test catalogue: pure derivation on real sample crystals, and the COPY load on a slice."""

from __future__ import annotations

import io
import warnings

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from materials import scale
from materials.science import formation_from_energy, structure_fields


@pytest.fixture(scope="module")
def refs(data_dir) -> dict[str, float]:
    import csv

    with open(data_dir / "elemental_references.csv", newline="") as fh:
        return {row["element"]: float(row["energy_per_atom_eV"]) for row in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def parents(data_dir) -> list[dict]:
    """Stored-material fields of real sample crystals, as the loader reads them from the catalogue."""
    from tests.conftest import read_sample_rows

    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in read_sample_rows(data_dir, 40):
            structure = Structure.from_str(row["cif"], fmt="cif")
            fields = structure_fields(structure)
            found.append({**fields, "material_id": row["material_id"], "structure": structure.as_dict(),
                          "e_form_ev_per_atom": row["e_form_per_atom"], "dimensionality": "3D"})
    return found


def test_substitutes_stay_in_the_group_or_the_period_and_below_plutonium():
    assert scale.substitutes("Na") == ("Li", "K")
    assert set(scale.substitutes("S")) == {"O", "Se"}
    assert {"Mn", "Co", "Ru"} <= set(scale.substitutes("Fe"))
    assert all(s not in {"Am", "He", "Ne", "Ar", "Kr"} for el in ("Pu", "F", "Cl", "U") for s in scale.substitutes(el))


def test_a_derived_material_keeps_its_parents_symmetry_and_gets_its_own_composition(parents, refs):
    checked = 0
    for number, parent in enumerate(parents[:12], start=1):
        options = scale.variants(parent["elements"], refs)
        assert options, parent["formula"]
        for mapping in (options[0], options[-1]):
            fields = scale.derive(parent, mapping, number, refs, seed=3)
            structure = Structure.from_dict(fields["structure"])
            assert set(structure.composition.chemical_system.split("-")) == set(fields["elements"])
            assert not set(mapping) & set(fields["elements"]) and set(mapping.values()) <= set(fields["elements"])
            # every site of an element replaced by an element not present: the symmetry is the parent's
            analyzer = SpacegroupAnalyzer(structure, symprec=0.1)
            assert analyzer.get_space_group_number() == parent["spacegroup_number"]
            assert fields["density_g_cm3"] == pytest.approx(float(structure.density), rel=1e-9)
            assert fields["nsites"] == len(structure) == parent["nsites"]
            assert abs(fields["e_form_ev_per_atom"] - parent["e_form_ev_per_atom"]) < 6 * scale.ENERGY_NOISE_EV_PER_ATOM
            assert formation_from_energy(fields["energy_corrected_ev"], structure.composition, refs) == pytest.approx(
                fields["e_form_ev_per_atom"], abs=1e-9)
            assert fields["extra"]["scale"]["parent"] == parent["material_id"]
            checked += 1
    assert checked == 24


def test_the_plan_goes_round_robin_and_refuses_more_than_the_parents_allow(parents, refs):
    elements = [p["elements"] for p in parents]
    chosen = scale.plan(elements, 100, refs)
    assert len(set(chosen)) == 100
    assert [p for p, _ in chosen[: len(parents)]] == list(range(len(parents)))  # every parent once, then again
    total = sum(len(scale.variants(e, refs)) for e in elements)
    with pytest.raises(ValueError, match=f"have {total} substitution variants, fewer than the {total + 1}"):
        scale.plan(elements, total + 1, refs)
    a = scale.derive(parents[0], scale.variants(parents[0]["elements"], refs)[0], 7, refs, seed=1)
    b = scale.derive(parents[0], scale.variants(parents[0]["elements"], refs)[0], 7, refs, seed=1)
    c = scale.derive(parents[0], scale.variants(parents[0]["elements"], refs)[0], 7, refs, seed=2)
    assert a == b and a["e_form_ev_per_atom"] != c["e_form_ev_per_atom"]  # deterministic per seed


# ---- the load, on a slice (the scale path CI keeps alive; benchmarks/scale.py runs it at 530k) -------------

SLICE = 20_000


@pytest.mark.django_db(transaction=True)
def test_a_20k_scale_slice_loads_with_copy_is_idempotent_and_is_placed_on_the_hull(tmp_path, data_dir, mp_rows):
    from django.db import connection

    from hullapi.models import Stability
    from materials.models import Calculation, ImportRun, Material, Source
    from tests.conftest import hull_phases_of, load_rows, read_sample_rows

    gnome = read_sample_rows(data_dir, 800)
    load_rows(tmp_path, hull_phases_of(gnome, mp_rows), gnome, list(mp_rows[0]))
    real = Material.objects.count()
    quiet = {"stdout": io.StringIO(), "verbosity": 0}
    call_command("make_scale_dataset", n=SLICE, workers=2, **quiet)
    scale_rows = Material.objects.filter(source=Source.SCALE)
    assert scale_rows.count() == SLICE and Material.objects.count() == real + SLICE
    assert Calculation.objects.filter(material__source=Source.SCALE, kind="synthetic").count() == SLICE
    one = scale_rows.get(material_id="scale-0000001")
    assert one.licence == "CC-BY-NC-4.0" and "not a calculation" in one.energy_method
    structure = one.get_structure()
    assert structure.composition.reduced_formula == one.formula_reduced and len(structure) == one.nsites
    assert one.elements_mask_low.bit_count() + one.elements_mask_high.bit_count() == one.nelements
    if connection.vendor == "postgresql":
        run = ImportRun.objects.filter(importer="make_scale_dataset").latest("pk")
        assert run.status == "succeeded" and run.inserted == SLICE

    out = io.StringIO()
    call_command("make_scale_dataset", n=SLICE, workers=2, stdout=out, verbosity=0)
    assert "nothing changed" in out.getvalue() and scale_rows.count() == SLICE  # idempotent

    call_command("recompute_hull", hull="all", **quiet)
    placed = Stability.objects.filter(material__source=Source.SCALE, hull_set="all",
                                      e_above_hull_ev_per_atom__isnull=False)
    assert placed.count() == SLICE  # every synthetic material has references, so every one is placed
    assert Stability.objects.filter(material__source=Source.SCALE, hull_set="all", is_stable=True).exists()

    call_command("make_scale_dataset", n=5_000, seed=1, workers=1, **quiet)  # another size replaces the rows
    assert scale_rows.count() == 5_000 and not Stability.objects.filter(material__source=Source.SCALE).exists()
    assert Calculation.objects.filter(material__source=Source.SCALE).count() == 5_000
    with pytest.raises(CommandError, match="fewer than the 10000000"):
        call_command("make_scale_dataset", n=10_000_000, **quiet)
    assert scale_rows.count() == 5_000  # a refused load changes nothing
