"""The explorer in a real browser: Debian's chromium driven by Playwright, against a live server (Django with the
Dash explorer mounted, as gnome_site.wsgi serves it) on a real slice of the sample data."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from hullapi import services
from hullapi.models import HullSet

from ..conftest import hull_phases_of, live_wsgi_server, load_rows

# Playwright's sync API keeps an asyncio loop in the test's thread, which Django's ORM takes for async code;
# the tests call the ORM synchronously between browser steps (the usual setting for Playwright with Django).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "explorer"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def li_p_s_rows(data_dir, mp_rows):
    """Every sample material containing Li, P and S, and the Materials Project hull phases of their systems."""
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        gnome = [row for line in fh if {"Li", "P", "S"} <= set((row := json.loads(line))["elements"].split("-"))]
    return hull_phases_of(gnome, mp_rows), gnome


@pytest.fixture
def explorer(transactional_db, tmp_path, li_p_s_rows, mp_rows):
    """Base URL of a live server holding the slice, its hulls, dimensionality and screens."""
    mp, gnome = li_p_s_rows
    load_rows(tmp_path, mp, gnome, list(mp_rows[0]))
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    quiet = {"stdout": io.StringIO(), "verbosity": 0}
    call_command("compute_dimensionality", workers=1, **quiet)
    for screen in ("li_conductor", "layered", "li_mn_oxides"):
        call_command("run_screen", screen, **quiet)

    with live_wsgi_server() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    external: list[str] = []  # everything is served by the project: no CDN, no font service
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
            else external.append(r.url))
    page.external = external
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()


def shot(page, name: str) -> None:
    """Save a screenshot as a test artifact (var/test-artifacts/explorer/)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
