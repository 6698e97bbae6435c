"""import_mp_hull on real snapshot rows: MP2020 corrections, published values kept, licences."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from materials.models import ImportRun, Licence, Material, Source

from ..conftest import write_csv

pytestmark = pytest.mark.django_db

WANTED = {"mp-19009", "mp-22862", "mp-1143", "mp-2657"}  # NiO, NaCl, Al2O3, TiO2


@pytest.fixture
def snapshot_slice(tmp_path, mp_rows):
    """The named phases, every unary row (the references), a Xe row and a GNoME-id row."""
    chosen = [r for r in mp_rows if r["MaterialId"] in WANTED or r["Elements"].count(",") == 0]
    chosen.append(next(r for r in mp_rows if "'Xe'" in r["Elements"] and r["Elements"].count(",") > 0))
    return write_csv(tmp_path / "snapshot.csv", chosen, list(mp_rows[0].keys())), chosen


def run_import(path) -> ImportRun:
    call_command("import_mp_hull", str(path), stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    return ImportRun.objects.first()


def test_nio_and_nacl_get_their_mp2020_formation_energies(snapshot_slice):
    path, chosen = snapshot_slice
    run = run_import(path)
    assert run.inserted == len(chosen) and run.rejected == 0
    nio = Material.objects.get(material_id="mp-19009")
    assert nio.e_form_ev_per_atom == pytest.approx(-1.22, abs=0.005)  # raw column: +0.40
    assert nio.energy_corrected_ev / nio.nsites == pytest.approx(-6.582, abs=0.001)
    calc = nio.calculations.get()
    assert calc.energy_ev == pytest.approx(-19.87253657)  # the file's value, as published
    assert calc.correction_ev == pytest.approx(calc.energy_corrected_ev - calc.energy_ev)
    assert "GGA+U" in calc.correction_scheme and "require_bound" in calc.correction_scheme
    nacl = Material.objects.get(material_id="mp-22862")
    assert nacl.e_form_ev_per_atom == pytest.approx(-2.1, abs=0.02)
    assert "GGA from composition" in nacl.calculations.get().correction_scheme
    assert Material.objects.get(material_id="mp-1143").e_form_ev_per_atom == pytest.approx(-3.43, abs=0.02)


def test_snapshot_rows_carry_source_licence_and_no_structure(snapshot_slice):
    path, chosen = snapshot_slice
    run_import(path)
    nio = Material.objects.get(material_id="mp-19009")
    assert (nio.source, nio.licence, nio.structure) == (Source.MP, Licence.CC_BY_4, None)
    assert (nio.chemsys, nio.nelements, nio.nsites, nio.formula_reduced) == ("Ni-O", 2, 4, "NiO")
    hex_rows = [r["MaterialId"] for r in chosen if not r["MaterialId"].startswith("mp-")]
    assert hex_rows, "the snapshot's recomputed GNoME references should be in the slice"
    assert set(Material.objects.filter(material_id__in=hex_rows).values_list("licence", flat=True)) == {Licence.CC_BY_NC_4}


def test_elements_without_reference_are_kept_and_explained(snapshot_slice):
    path, chosen = snapshot_slice
    run = run_import(path)
    xe = Material.objects.filter(chemsys__contains="Xe").exclude(chemsys="Xe").get()
    assert xe.e_form_ev_per_atom is None
    assert "no elemental reference for Xe" in xe.energy_note
    assert any("Xe" in i["reason"] and i["level"] == "warning" for i in run.issues)


def test_reimport_changes_nothing(snapshot_slice):
    path, chosen = snapshot_slice
    run_import(path)
    before = list(Material.objects.order_by("pk").values())
    again = run_import(path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, len(chosen))
    assert list(Material.objects.order_by("pk").values()) == before


def test_bad_snapshot_rows_are_rejected_with_reasons(tmp_path, mp_rows):
    good = next(r for r in mp_rows if r["MaterialId"] == "mp-22862")
    rows = [
        good,
        dict(good, MaterialId="mp-bad-1", Composition="Xx1Cl1"),
        dict(good, MaterialId="mp-bad-2", **{"Corrected Energy": ""}),
        dict(good, MaterialId="mp-bad-3", NSites="7.0"),
        dict(good, MaterialId="mp-bad-4", **{"Corrected Energy": "-80"}),
    ]
    run = run_import(write_csv(tmp_path / "bad.csv", rows, list(good.keys())))
    reasons = {i["id"]: i["reason"] for i in run.issues if i["level"] == "rejected"}
    assert reasons["mp-bad-1"] == "unknown element Xx"
    assert "no energy" in reasons["mp-bad-2"]
    assert "NSites 7 does not match" in reasons["mp-bad-3"]
    assert "below -8.0 eV/atom" in reasons["mp-bad-4"]
    assert list(Material.objects.values_list("material_id", flat=True)) == ["mp-22862"]
