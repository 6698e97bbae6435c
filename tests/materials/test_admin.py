"""The admin shows every material, calculation, reference and import run, with search and filters."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from materials.models import Calculation, ImportRun, Material

from ..conftest import write_jsonl

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(tmp_path, sample_rows):
    rows = sample_rows[:8] + [dict(sample_rows[8], material_id="broken0001", cif="data_x\n")]
    call_command("import_gnome", str(write_jsonl(tmp_path / "s.jsonl.gz", rows)), stdout=io.StringIO(),
                 stderr=io.StringIO(), verbosity=0, workers=1)
    return rows[:8]


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("alice", "alice@example.org", "a-long-test-password")
    client.force_login(user)
    return client


def test_anonymous_users_are_sent_to_the_login_page(client, catalogue):
    response = client.get(reverse("admin:materials_material_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_every_catalogue_model_has_a_working_changelist(staff_client, catalogue):
    for name in ("material", "calculation", "elementalreference", "importrun"):
        response = staff_client.get(reverse(f"admin:materials_{name}_changelist"))
        assert response.status_code == 200, name


def test_materials_are_searchable_by_formula_id_and_chemical_system(staff_client, catalogue):
    row = catalogue[3]
    url = reverse("admin:materials_material_changelist")
    for query in (row["reduced_formula"], row["material_id"], row["elements"]):
        page = staff_client.get(url, {"q": query}).content.decode()
        assert row["material_id"] in page, query
    page = staff_client.get(url, {"source__exact": "gnome", "nelements__exact": row["nelements"]}).content.decode()
    assert row["material_id"] in page


def test_a_material_page_shows_its_structure_energies_and_provenance(staff_client, catalogue):
    material = Material.objects.get(material_id=catalogue[0]["material_id"])
    page = staff_client.get(reverse("admin:materials_material_change", args=[material.pk])).content.decode()
    assert "GNoME PBE/PBE+U (MP2020)" in page
    assert "CC BY-NC 4.0" in page
    assert "Full Formula" in page  # the structure summary
    assert "import_gnome" in page  # the import run that brought it


def test_the_import_run_page_lists_rejected_rows(staff_client, catalogue):
    run = ImportRun.objects.get()
    page = staff_client.get(reverse("admin:materials_importrun_change", args=[run.pk])).content.decode()
    assert "broken0001" in page and "unparsable cif" in page
    calc = Calculation.objects.first()
    assert staff_client.get(reverse("admin:materials_calculation_change", args=[calc.pk])).status_code == 200


def test_catalogue_rows_cannot_be_edited_in_the_admin(staff_client, catalogue):
    material = Material.objects.first()
    before = material.formula_reduced
    staff_client.post(reverse("admin:materials_material_change", args=[material.pk]), {"formula_reduced": "X"})
    material.refresh_from_db()
    assert material.formula_reduced == before
