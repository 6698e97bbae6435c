"""Shared fixtures: the real data (read from GNOME_DATA_DIR, never copied) and small slices of it."""

from __future__ import annotations

import ast
import contextlib
import csv
import gzip
import io
import itertools
import json
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (throttle counters, cached hull responses)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(settings.GNOME_DATA_DIR)
    if not (path / "gnome_materials_sample.jsonl.gz").is_file():
        pytest.fail(f"GNOME_DATA_DIR does not hold the sample data: {path}")
    return path


def read_sample_rows(data_dir: Path, n: int, start: int = 0) -> list[dict]:
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        return [json.loads(line) for line in itertools.islice(fh, start, start + n)]


@pytest.fixture(scope="session")
def sample_rows(data_dir) -> list[dict]:
    """The first 120 GNoME sample rows, as published."""
    return read_sample_rows(data_dir, 120)


@pytest.fixture(scope="session")
def mp_rows(data_dir) -> list[dict]:
    with open(data_dir / "mp_hull_snapshot.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with gzip.open(path, "wt") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    return path


def write_csv(path: Path, rows: list[dict], fieldnames: list[str]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---- a small real catalogue for the hull: chosen chemical systems of the snapshot and the sample ----

SYSTEMS = [{"Li", "Mn", "O", "P"}, {"Fe", "Li", "O", "P"}, {"Co", "Li", "O"}, {"Na", "Cl"}]


def _inside(elements: set[str]) -> bool:
    return any(elements <= s for s in SYSTEMS)


@pytest.fixture(scope="session")
def system_rows(data_dir, mp_rows) -> tuple[list[dict], list[dict]]:
    """The MP snapshot rows and GNoME sample rows within SYSTEMS (with all their subsystems)."""
    mp = [r for r in mp_rows if _inside(set(ast.literal_eval(r["Elements"])))]
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        gnome = [row for line in fh if _inside(set((row := json.loads(line))["elements"].split("-")))]
    return mp, gnome


def hull_phases_of(gnome: list[dict], mp_rows: list[dict]) -> list[dict]:
    """The snapshot rows in the chemical systems (and subsystems) of these sample rows: their hull phases."""
    subsystems = set()
    for row in gnome:
        elements = row["elements"].split("-")
        subsystems |= {frozenset(c) for n in range(1, len(elements) + 1) for c in itertools.combinations(elements, n)}
    return [row for row in mp_rows if frozenset(ast.literal_eval(row["Elements"])) in subsystems]


def load_rows(tmp_path: Path, mp: list[dict], gnome: list[dict], mp_fieldnames: list[str]) -> None:
    """Import snapshot rows and sample rows with the real importers, quietly, in this process."""
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO(), "verbosity": 0, "workers": 1}
    call_command("import_mp_hull", str(write_csv(tmp_path / "mp.csv", mp, mp_fieldnames)), **quiet)
    call_command("import_gnome", str(write_jsonl(tmp_path / "g.jsonl.gz", gnome)), **quiet)


@pytest.fixture
def catalogue(tmp_path, system_rows, mp_rows, db):
    mp, gnome = system_rows
    load_rows(tmp_path, mp, gnome, list(mp_rows[0]))
    return mp, gnome


# ---- a live server ---------------------------------------------------------------------------------

@contextlib.contextmanager
def live_wsgi_server():
    """The WSGI application (Django with the Dash explorer mounted, as gunicorn serves it) on a free loopback
    port in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    from gnome_site.wsgi import application

    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        # the server's request threads are gone but their persistent connections are not: end them, so that
        # the test database can be flushed and dropped
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND pid <> pg_backend_pid()")
