"""import_gnome on real sample rows: idempotence, rejections, derived fields, the release layout."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.forms.models import model_to_dict
from pymatgen.core import Composition, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from materials.models import Calculation, ImportRun, Licence, Material
from materials.readers import GNOME_SUMMARY

from ..conftest import write_csv, write_jsonl

pytestmark = pytest.mark.django_db

COMPARED_FIELDS = [
    "formula", "formula_reduced", "formula_anonymous", "chemsys", "elements", "nelements", "nsites",
    "volume_a3", "density_g_cm3", "spacegroup_number", "spacegroup_symbol", "crystal_system", "point_group",
    "e_form_ev_per_atom", "energy_corrected_ev", "structure", "source", "licence",
]


def run_import(*args, **options) -> ImportRun:
    out = io.StringIO()
    call_command("import_gnome", *args, stdout=out, stderr=io.StringIO(), verbosity=0, **options)
    return ImportRun.objects.first()


def snapshot() -> list[dict]:
    return [model_to_dict(m) | {"updated_at": m.updated_at} for m in Material.objects.order_by("material_id")] + [
        model_to_dict(c) | {"updated_at": c.updated_at} for c in Calculation.objects.order_by("material__material_id")
    ]


def test_importing_a_slice_twice_leaves_identical_rows(tmp_path, sample_rows):
    path = write_jsonl(tmp_path / "slice.jsonl.gz", sample_rows[:60])
    first = run_import(str(path), workers=2)
    assert (first.inserted, first.rejected) == (60, 0)
    before = snapshot()
    second = run_import(str(path), workers=2)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 60)
    assert snapshot() == before
    assert Material.objects.count() == 60 and Calculation.objects.count() == 60


def test_a_changed_row_is_updated_in_place(tmp_path, sample_rows):
    rows = [dict(r) for r in sample_rows[:5]]
    run_import(str(write_jsonl(tmp_path / "a.jsonl.gz", rows)), workers=1)
    pk = Material.objects.get(material_id=rows[0]["material_id"]).pk
    rows[0]["e_form_per_atom"] -= 0.01
    run = run_import(str(write_jsonl(tmp_path / "b.jsonl.gz", rows)), workers=1)
    assert (run.updated, run.unchanged) == (1, 4)
    material = Material.objects.get(material_id=rows[0]["material_id"])
    assert material.pk == pk
    assert material.e_form_ev_per_atom == pytest.approx(rows[0]["e_form_per_atom"])
    assert material.calculations.get().e_form_ev_per_atom == pytest.approx(rows[0]["e_form_per_atom"])


def test_bad_rows_are_reported_with_reasons_and_the_rest_imports(tmp_path, data_dir, sample_rows):
    good = [r for r in sample_rows if "Yb" not in r["elements"]][:10]
    yb_row = next(r for r in _rows_with(data_dir, "Yb"))
    corrupted = dict(good[0], material_id="corrupt0001", cif=good[0]["cif"][: len(good[0]["cif"]) // 3])
    unknown = dict(good[1], material_id="unknown0001", cif=good[1]["cif"].replace(
        f"  {good[1]['elements'].split('-')[0]}  ", "  Xx  "), composition="Xx2O3")
    run = run_import(str(write_jsonl(tmp_path / "mixed.jsonl.gz", [*good, corrupted, unknown, yb_row])), workers=1)

    issues = {i["id"]: i for i in run.issues}
    assert issues["corrupt0001"]["level"] == "rejected"
    assert "cif" in issues["corrupt0001"]["reason"]
    assert issues["unknown0001"]["level"] == "rejected"
    assert "unknown element Xx" in issues["unknown0001"]["reason"]
    assert issues[yb_row["material_id"]]["level"] == "warning"
    assert "no elemental reference for Yb" in issues[yb_row["material_id"]]["reason"]
    assert (run.inserted, run.rejected, run.warnings) == (11, 2, 1)
    assert run.status == ImportRun.Status.SUCCEEDED

    yb = Material.objects.get(material_id=yb_row["material_id"])
    assert yb.energy_corrected_ev is None
    assert yb.e_form_ev_per_atom == pytest.approx(yb_row["e_form_per_atom"])
    assert "no elemental reference for Yb" in yb.energy_note
    assert not Material.objects.filter(material_id__in=["corrupt0001", "unknown0001"]).exists()


def _rows_with(data_dir, element: str):
    from ..conftest import read_sample_rows

    for start in range(0, 30000, 500):
        for row in read_sample_rows(data_dir, 500, start):
            if element in row["elements"].split("-"):
                yield row


def test_derived_fields_match_pymatgen_recomputed_independently(tmp_path, sample_rows):
    rows = sample_rows[:15]
    run_import(str(write_jsonl(tmp_path / "s.jsonl.gz", rows)), workers=1)
    for row in rows:
        material = Material.objects.get(material_id=row["material_id"])
        structure = Structure.from_str(row["cif"], fmt="cif")
        analyzer = SpacegroupAnalyzer(structure, symprec=0.1)
        assert material.density_g_cm3 == pytest.approx(structure.density, rel=1e-9)
        assert material.volume_a3 == pytest.approx(structure.volume, rel=1e-9)
        assert material.spacegroup_number == analyzer.get_space_group_number()
        assert material.spacegroup_symbol == analyzer.get_space_group_symbol()
        assert material.point_group == analyzer.get_point_group_symbol()
        assert material.formula_reduced == row["reduced_formula"]
        assert material.formula_anonymous == Composition(row["composition"]).anonymized_formula
        assert material.licence == Licence.CC_BY_NC_4
        assert material.get_structure().matches(structure)
        assert material.extra["published"]["sources"] == row["sources"]


def test_the_release_layout_imports_to_the_same_result_as_the_jsonl(tmp_path, sample_rows):
    rows = sample_rows[:25]
    run_import(str(write_jsonl(tmp_path / "s.jsonl.gz", rows)), workers=1)
    from_jsonl = {m.material_id: {f: getattr(m, f) for f in COMPARED_FIELDS} for m in Material.objects.all()}
    Material.objects.all().delete()

    release = tmp_path / "gnome_data"
    release.mkdir()
    columns = ["", "Composition", "MaterialId", "Reduced Formula", "Elements", "NSites", "Formation Energy Per Atom",
               "Crystal System", "Dimensionality Cheon"]
    write_csv(release / GNOME_SUMMARY, [
        {"": i, "Composition": r["composition"].replace(" ", ""), "MaterialId": r["material_id"],
         "Reduced Formula": r["reduced_formula"], "Elements": str(r["elements"].split("-")[::-1]),
         "NSites": r["nsites"], "Formation Energy Per Atom": r["e_form_per_atom"],
         "Crystal System": r["crystal_system"], "Dimensionality Cheon": "3D"}
        for i, r in enumerate(rows)
    ], columns)
    with zipfile.ZipFile(release / "by_id.zip", "w") as zf:
        for r in rows:
            zf.writestr(f"by_id/{r['material_id']}.CIF", r["cif"])
    run = run_import(str(release), workers=2)
    assert (run.inserted, run.rejected) == (25, 0)
    from_release = {m.material_id: {f: getattr(m, f) for f in COMPARED_FIELDS} for m in Material.objects.all()}
    assert from_release == from_jsonl
    assert set(Material.objects.values_list("dimensionality", flat=True)) == {"3D"}


def test_missing_cif_in_the_release_is_reported(tmp_path, sample_rows):
    release = tmp_path / "rel"
    (release / "by_id").mkdir(parents=True)
    r = sample_rows[0]
    write_csv(release / GNOME_SUMMARY, [{"MaterialId": r["material_id"], "Composition": r["composition"],
                                         "Formation Energy Per Atom": r["e_form_per_atom"]}],
              ["MaterialId", "Composition", "Formation Energy Per Atom"])
    run = run_import(str(release), workers=1)
    assert run.rejected == 1 and run.issues[0]["reason"] == f"no CIF for {r['material_id']}"


def test_a_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no such file or folder"):
        run_import(str(tmp_path / "nowhere.jsonl.gz"))
