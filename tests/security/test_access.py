"""Security: production settings pass Django's deployment check; every write needs staff; anonymous clients are
throttled; forms and session-authenticated writes need a CSRF token; SQL is only ever built by the ORM or with
parameters."""

from __future__ import annotations

import ast
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from discovery.models import DiscoveryRound, MDStudy

ROOT = Path(settings.BASE_DIR)
UNSAFE = ("post", "put", "patch", "delete")
# views an anonymous client may POST to, and why: each computes an answer and writes nothing (tested below)
OPEN_POSTS = {"StabilityQuery": "energy above the stored hull of the caller's own entries",
              "Predict": "the GNN ensemble's prediction for the caller's crystal (tests/discovery/test_predict.py)"}


def test_production_settings_pass_the_deployment_check_without_a_warning():
    # the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is theirs, not production's (the check rightly refuses it)
    env = {k: v for k, v in os.environ.items()
           if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DEBUG="False", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="gnome.example.org")
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    # and what it checks is really on: HTTPS redirect, HSTS, secure cookies
    probe = subprocess.run([sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; "
                            "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, "
                            "s.CSRF_COOKIE_SECURE, s.DEBUG)"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**env, "DJANGO_SETTINGS_MODULE": "gnome_site.settings"})
    assert probe.stdout.split() == ["True", "31536000", "True", "True", "False"], probe.stderr


def _api_views(patterns=None, namespace: str = "") -> list[tuple[str, type]]:
    """(URL, view class) of every DRF view the URL configuration serves, each URL reversed from its route with
    plausible arguments."""
    from django.urls import reverse

    samples = {"chemsys": "Li-O", "name": "li_conductor", "pk": "1", "material_id": "gnx-x", "entry_id": "gnx-x"}
    found, aliases = [], []
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _api_views(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern):
            view = getattr(entry.callback, "view_class", None) or getattr(entry.callback, "cls", None)
            if isinstance(view, type) and issubclass(view, APIView):
                if not entry.name:
                    aliases.append(view)  # an alias route (OPTIMADE's /v1.2/...): the same view as a named one
                    continue
                kwargs = {k: samples.get(k, "x") for k in entry.pattern.regex.groupindex}
                found.append((reverse(namespace + entry.name, kwargs=kwargs), view))
    assert set(aliases) <= {view for _, view in found}, "an unnamed route serves a view no named route serves"
    return found


def row_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label in
            {"materials", "hullapi", "discovery"}}


@pytest.mark.django_db
def test_every_write_endpoint_refuses_anonymous_and_non_staff_users():
    views = _api_views()
    assert len(views) >= 15, views  # the walk found the APIs (catalogue, hull, screens, rounds, OPTIMADE)
    writers = [(route, view) for route, view in views if any(hasattr(view, m) for m in UNSAFE)]
    assert {v.__name__ for _, v in writers} >= {"MaterialUpload", "RoundList", "StabilityQuery"}
    User.objects.create_user("plain", password="pw-plain-1")
    plain = Client()
    plain.login(username="plain", password="pw-plain-1")
    before = row_counts()
    checked = 0
    for route, view in writers:
        if view.__name__ in OPEN_POSTS:
            continue
        for method in UNSAFE:
            if not hasattr(view, method):
                continue
            for who, client in (("anonymous", Client()), ("non-staff", plain)):
                response = getattr(client, method)(route, data={}, content_type="application/json")
                assert response.status_code in (401, 403), (who, method, route, response.status_code)
                assert "staff" in response.json()["detail"] or "credentials" in response.json()["detail"], response.json()
                checked += 1
    assert checked >= 4
    # views without a write method answer writes with 405, whoever asks
    for route, view in views:
        if not any(hasattr(view, m) for m in UNSAFE):
            response = Client().post(route, data={}, content_type="application/json")
            assert response.status_code in (401, 403, 405), (route, response.status_code)
    assert row_counts() == before


@pytest.mark.django_db
def test_the_open_stability_query_writes_nothing(catalogue):
    from hullapi import services
    from hullapi.models import HullSet

    services.recompute(HullSet.ALL)
    before = row_counts()
    response = Client().post("/api/v1/hull/stability/", data={"formula": "LiCoO2", "energy_ev_per_atom": -5.0},
                             content_type="application/json")
    assert response.status_code == 200 and response.json()["results"][0]["chemsys"] == "Co-Li-O"
    assert row_counts() == before


@pytest.mark.django_db
def test_admin_pages_need_a_staff_login():
    User.objects.create_user("plain", password="pw-plain-1")
    plain = Client()
    plain.login(username="plain", password="pw-plain-1")
    for path in ("/admin/", "/admin/discovery/discoveryround/add/", "/admin/discovery/mdstudy/add/",
                 "/admin/materials/material/"):
        for client in (Client(), plain):
            response = client.get(path)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], (path, response.status_code)
    before = (DiscoveryRound.objects.count(), MDStudy.objects.count())
    response = plain.post("/admin/discovery/discoveryround/add/", {"chemsys": "Li-O", "candidate_budget": 10})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert (DiscoveryRound.objects.count(), MDStudy.objects.count()) == before


@pytest.mark.django_db
def test_anonymous_clients_are_throttled_and_told_when_to_come_back(monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import AnonRateThrottle

    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] == ["rest_framework.throttling.AnonRateThrottle"]
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "5/min"})  # the setting's value, made small
    cache.clear()
    client = Client()
    statuses = [client.get("/api/v1/materials/", {"_per_page": 1}).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = client.get("/api/v1/hull/Li-O/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0 and "throttled" in refused.json()["detail"]
    # another client (another address) is not held back by the first
    assert Client(REMOTE_ADDR="10.0.0.7").get("/api/v1/materials/", {"_per_page": 1}).status_code == 200
    cache.clear()


@pytest.mark.django_db
def test_forms_and_session_authenticated_writes_need_a_csrf_token():
    User.objects.create_user("boss", password="pw-boss-1", is_staff=True, is_superuser=True)
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "boss", "password": "pw-boss-1"})
    assert response.status_code == 403 and b"CSRF" in response.content
    client.force_login(User.objects.get(username="boss"))
    before = DiscoveryRound.objects.count()
    response = client.post("/api/v1/discovery/rounds/", data={"chemsys": ["Li-O"]}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    response = client.post("/api/v1/materials/uploads/", data={"structure": "x", "format": "cif"},
                           content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert DiscoveryRound.objects.count() == before
    # with the token the login form works: the check is the token, not a blanket refusal
    login = Client(enforce_csrf_checks=True)
    page = login.get("/admin/login/")
    token = page.cookies["csrftoken"].value
    response = login.post("/admin/login/", {"username": "boss", "password": "pw-boss-1", "csrfmiddlewaretoken": token})
    assert response.status_code == 302


# ---- SQL: the ORM or parameters, nothing formatted from input ----------------------------------------------

SQL_CALLS = {"execute", "executemany", "copy", "raw", "extra"}
# dynamic SQL that was reviewed: it formats identifiers from model metadata (quoted) or SQL the ORM compiled
# (with its parameters passed separately), never a value from a request
REVIEWED = {
    ("materials/counting.py", "total"): "EXPLAIN of the ORM's own compiled SQL, its params passed separately",
    ("materials/bulk.py", "_copy_upsert"): "temp and model table / column names from _meta, quoted",
    ("materials/bulk.py", "refresh_statistics"): "VACUUM of model tables, names quoted",
    ("materials/scale_load.py", "_copy"): "COPY into the model's table, quoted names from _meta",
    ("materials/scale_load.py", "_copy_calculations"): "model tables and columns from _meta; every value a parameter",
    ("materials/scale_load.py", "_delete_scale_rows"): "related tables and columns from _meta; the source a parameter",
    ("materials/backup/restore.py", "_compare_counts"): "COUNT(*) of model tables from _meta, quoted",
    ("materials/backup/database.py", "count_tables"): "COUNT(*) of tables listed by the database itself, quoted",
}


def _dynamic_sql_calls() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "tests/", "benchmarks/")) or "/migrations/" in rel:
            continue
        tree = ast.parse(path.read_text(), filename=rel)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS
                        and node.args and not isinstance(node.args[0], ast.Constant)
                        and _looks_like_sql(node.args[0])):
                    found.append((rel, func.name, node.lineno))
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "RawSQL":
                    found.append((rel, func.name, node.lineno))
    return found


def _looks_like_sql(arg: ast.expr) -> bool:
    """A formatted string, a concatenation or a % / .format() of strings: what could carry a value into SQL."""
    if isinstance(arg, ast.JoinedStr | ast.BinOp):
        return True
    return isinstance(arg, ast.Call) and getattr(arg.func, "attr", "") == "format"


def test_sql_is_built_only_by_the_orm_or_with_parameters():
    found = _dynamic_sql_calls()
    assert found, "the scan found none of the known dynamic statements: it is not looking"
    unreviewed = [(rel, name, line) for rel, name, line in found if (rel, name) not in REVIEWED]
    assert not unreviewed, f"SQL formatted outside the reviewed functions (use the ORM or parameters): {unreviewed}"
    stale = set(REVIEWED) - {(rel, name) for rel, name, _ in found}
    assert not stale, f"reviewed entries that no longer format SQL (remove them): {stale}"
