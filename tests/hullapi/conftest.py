"""A small real catalogue for the hull services: chosen chemical systems of the MP snapshot and the sample."""

from __future__ import annotations

import ast
import gzip
import io
import json

import pytest
from django.core.management import call_command

from ..conftest import write_csv, write_jsonl

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


@pytest.fixture
def catalogue(tmp_path, system_rows, mp_rows, db):
    mp, gnome = system_rows
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO(), "verbosity": 0, "workers": 1}
    call_command("import_mp_hull", str(write_csv(tmp_path / "mp.csv", mp, list(mp_rows[0]))), **quiet)
    call_command("import_gnome", str(write_jsonl(tmp_path / "g.jsonl.gz", gnome)), **quiet)
    return mp, gnome
