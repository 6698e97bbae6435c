"""Admins see the stored stability and start recomputations from the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from hullapi import services
from hullapi.models import HullRun, HullSet
from materials.models import Material

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("alice", "alice@example.org", "a-long-test-password"))
    return client


def test_a_material_page_shows_its_stability_on_both_hulls(staff_client, catalogue):
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    material = Material.objects.filter(source="mp", nelements=3).first()
    page = staff_client.get(reverse("admin:materials_material_change", args=[material.pk])).content.decode()
    assert "All known phases" in page and "Materials Project phases only" in page


def test_the_recompute_action_starts_a_run(staff_client, catalogue):
    run = services.recompute(HullSet.MP)
    response = staff_client.post(reverse("admin:hullapi_hullrun_changelist"),
                                 {"action": "recompute_again", "_selected_action": [run.pk]})
    assert response.status_code == 302
    assert HullRun.objects.filter(hull_set=HullSet.MP, status=HullRun.Status.SUCCEEDED).count() == 2  # eager here


def test_anonymous_users_cannot_start_a_recompute(client, catalogue):
    run = services.recompute(HullSet.MP)
    response = client.post(reverse("admin:hullapi_hullrun_changelist"),
                           {"action": "recompute_again", "_selected_action": [run.pk]})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert HullRun.objects.count() == 1


def test_admins_see_screen_counts_and_run_every_screen(staff_client, catalogue):
    from hullapi.screening import run_screen
    from materials.models import ScreenRun

    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    first = run_screen("li_mn_oxides")
    page = staff_client.get(reverse("admin:materials_screenrun_changelist")).content.decode()
    assert "li_mn_tm_o" in page and "candidates" in page
    response = staff_client.post(reverse("admin:materials_screenrun_changelist"),
                                 {"action": "run_every_screen", "_selected_action": [first.pk]})
    assert response.status_code == 302
    assert set(ScreenRun.objects.filter(status="succeeded").values_list("screen", flat=True)) == {
        "li_conductor", "layered", "li_mn_oxides"}  # eager here: the runs finished
