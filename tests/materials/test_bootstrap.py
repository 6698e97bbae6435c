"""`make run`'s first start: the empty catalogue is filled from the real data, an admin account exists."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from materials.models import ElementalReference, ImportRun, Material, Source

pytestmark = pytest.mark.django_db


def test_bootstrap_loads_the_data_once_and_creates_the_admin(monkeypatch):
    monkeypatch.setenv("GNOME_ADMIN_PASSWORD", "a-long-test-password")
    call_command("bootstrap", limit=15, stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0)
    assert Material.objects.filter(source=Source.GNOME).count() == 15
    assert Material.objects.filter(source=Source.MP).count() == 15
    assert ElementalReference.objects.count() == 83
    assert get_user_model().objects.get(username="admin").check_password("a-long-test-password")
    from discovery.models import TrainingExample  # the shipped evaluated candidates, for the screening model

    assert TrainingExample.objects.filter(status="done").count() > 500

    out = io.StringIO()
    call_command("bootstrap", limit=15, stdout=out, stderr=io.StringIO(), verbosity=0)
    assert "no data loaded" in out.getvalue()
    assert ImportRun.objects.count() == 2  # nothing imported the second time


def test_the_home_page_and_health_check_answer(client):
    assert client.get("/healthz").json()["status"] == "ok"
    page = client.get("/").content.decode()
    assert "GNoME Explorer" in page and "CC BY-NC 4.0" in page and "CC BY 4.0" in page
