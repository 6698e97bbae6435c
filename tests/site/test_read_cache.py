"""Anonymous API reads come from the cache until an import, a hull recompute or a screen run changes the data;
staff never get cached answers, and the anonymous throttle counts hits."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from gnome_site import read_cache
from hullapi import services
from hullapi.models import HullSet

from ..conftest import write_jsonl


@pytest.fixture
def cached(settings, monkeypatch):
    settings.GNOME_API_CACHE_SECONDS = 60
    monkeypatch.setattr(read_cache, "VERSION_EVERY_S", 0.0)  # read the data version at every request
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
def test_a_read_is_cached_until_an_import_changes_the_catalogue(cached, catalogue, tmp_path, sample_rows):
    client = Client()
    url = "/api/v1/materials/?elements=Li&_fields=material_id&_per_page=500"
    first = client.get(url)
    again = client.get(url)
    assert first["X-Cache"] == "miss" and again["X-Cache"] == "hit"
    assert again.json() == first.json() and again["Content-Type"] == first["Content-Type"]
    known = {d["material_id"] for d in first.json()["data"]}
    new = next(r for r in sample_rows if "Li" in r["elements"].split("-") and r["material_id"] not in known)
    call_command("import_gnome", str(write_jsonl(tmp_path / "one.jsonl.gz", [new])), workers=1, verbosity=0,
                 stdout=io.StringIO(), stderr=io.StringIO())
    after = client.get(url)
    assert after["X-Cache"] == "miss" and new["material_id"] in {d["material_id"] for d in after.json()["data"]}
    # a hull recompute changes the stability fields: a new version again
    hull_url = "/api/v1/materials/?elements=Li&_fields=material_id,energy_above_hull&_per_page=5"
    assert client.get(hull_url)["X-Cache"] == "miss" and client.get(hull_url)["X-Cache"] == "hit"
    services.recompute(HullSet.ALL)
    assert client.get(hull_url)["X-Cache"] == "miss"


@pytest.mark.django_db
def test_staff_writes_and_live_endpoints_are_never_cached(cached, catalogue):
    User.objects.create_user("boss", password="pw-boss-1", is_staff=True)
    staff = Client()
    staff.force_login(User.objects.get(username="boss"))
    for _ in range(2):
        assert "X-Cache" not in staff.get("/api/v1/materials/?_per_page=1")
    for path in ("/api/v1/discovery/rounds/", "/api/v1/materials/export?fmt=csv&elements=Na"):
        for _ in range(2):
            assert "X-Cache" not in Client().get(path)
    assert Client().get("/api/v1/materials/?chemsys=Xx-O").status_code == 400
    assert "X-Cache" not in Client().get("/api/v1/materials/?chemsys=Xx-O")  # errors are not kept


@pytest.mark.django_db
def test_the_anonymous_throttle_counts_cache_hits(cached, catalogue, monkeypatch):
    from rest_framework.throttling import AnonRateThrottle

    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "4/min"})
    client = Client()
    answers = [client.get("/api/v1/materials/?_per_page=1") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert answers[1]["X-Cache"] == "hit" and int(answers[4]["Retry-After"]) > 0
