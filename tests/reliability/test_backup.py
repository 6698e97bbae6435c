"""Backup and restore (manage.py backup / restore) on real PostgreSQL and on the embedded SQLite default.

A real catalogue with both hulls and a discovery round goes through a backup and a restore into a fresh
database and comes back row for row, with its sequences, indexes and constraints; files that are not
backups, are cut short or corrupt, or come from newer code are refused before anything changes; a restore
that fails after it has dropped, recreated and filled the tables changes nothing.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from discovery import rounds
from discovery.models import Candidate, DiscoveryRound
from hullapi import services
from hullapi.models import HullRun, HullSet, Stability
from materials.backup import MANIFEST
from materials.models import Calculation, ImportRun, Material
from tests.conftest import hull_phases_of, write_csv, write_jsonl

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump reads what is committed, from its own session


@pytest.fixture
def postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL backup tests need DATABASE_URL=postgres://...")


def conninfo(dbname: str) -> dict:
    db = connection.settings_dict
    return {"dbname": dbname, "user": db["USER"], "password": db["PASSWORD"] or None,
            "host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432}


def url_of(dbname: str) -> str:
    info = conninfo(dbname)
    return f"postgres://{info['user']}@{info['host']}:{info['port']}/{dbname}"


def manage(*args: str, database_url: str, ok: bool = True) -> subprocess.CompletedProcess:
    """A manage.py command in its own process, on the database ``database_url`` names."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=database_url, GNOME_IMPORT_WORKERS="1", GNOME_HULL_WORKERS="1")
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=Path(settings.BASE_DIR), env=env,
                            capture_output=True, text=True, timeout=300)
    if ok:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def everything(dbname: str) -> dict[str, object]:
    """Every row of every table (in primary-key order), every sequence, index and constraint of a database."""
    with closing(psycopg.connect(**conninfo(dbname))) as db:
        tables = [t for (t,) in db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        state: dict[str, object] = {t: db.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
        state["(sequences)"] = db.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public' ORDER BY 1").fetchall()
        state["(indexes)"] = db.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1").fetchall()
        state["(constraints)"] = db.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2").fetchall()
    return state


def assert_same(restored: dict[str, object], original: dict[str, object]) -> None:
    assert sorted(restored) == sorted(original)
    for name, rows in original.items():
        assert restored[name] == rows, f"{name} differs after the round trip"


@pytest.fixture
def scratch_database(postgres) -> Iterator[str]:
    """A fresh, empty PostgreSQL database beside the test database, dropped at the end."""
    name = f"{connection.settings_dict['NAME']}_restore"
    with closing(psycopg.connect(**conninfo("postgres"), autocommit=True)) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with closing(psycopg.connect(**conninfo("postgres"), autocommit=True)) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def built(catalogue) -> dict[str, int]:
    """The catalogue with both hulls, a discovery round with candidates (some evaluated into materials) and a user."""
    services.recompute(HullSet.ALL, workers=1)
    services.recompute(HullSet.MP, workers=1)
    rnd = rounds.create_round({"chemsys": ["Co-Li-O"], "candidate_budget": 10, "evaluation_budget": 2},
                              name="backup test", user="test")
    seeds = list(Material.objects.exclude(structure=None).order_by("material_id")[:4])
    assert len(seeds) == 4
    for n, seed in enumerate(seeds):
        Candidate.objects.create(
            round=rnd, key=f"k{n:015d}", method="saps", parent=seed.material_id, detail={"replaced": {"Co": "Ni"}},
            formula_reduced=seed.formula_reduced, chemsys=seed.chemsys, nsites=seed.nsites, structure=seed.structure,
            e_form_pred_ev_per_atom=-1.2345678901234567 + n / 7, e_form_iqr_ev_per_atom=0.01, screened=True,
            e_above_hull_pred_ev_per_atom=0.001 * n, arm="filtered" if n < 2 else "control",
            evaluation="done" if n % 2 == 0 else "", evaluator="CHGNet 0.3.0 relax" if n % 2 == 0 else "",
            energy_ev=-40.1 - n, is_stable=n == 0, relaxed_structure=seed.structure if n == 0 else None,
            evaluation_detail={"converged": True, "steps": 12}, material=seed if n % 2 == 0 else None,
        )
    DiscoveryRound.objects.filter(pk=rnd.pk).update(stage=DiscoveryRound.Stage.EVALUATED, counts={"generated": 4},
                                                    metrics={"hit_rate": 0.5})
    User.objects.create_user("curator", email="c@example.org", password="a-long-test-password")
    counts = {"materials": Material.objects.count(), "stabilities": Stability.objects.count(),
              "candidates": Candidate.objects.filter(round=rnd).count()}
    assert counts["stabilities"] == 2 * counts["materials"] > 0
    assert Calculation.objects.exists() and ImportRun.objects.count() == 2 and HullRun.objects.count() == 2
    return counts


# ---- PostgreSQL -----------------------------------------------------------------------------------------


def test_a_backup_restores_every_row_into_a_fresh_database(built, scratch_database, tmp_path):
    test_db = connection.settings_dict["NAME"]
    path = tmp_path / "gnome.backup"
    made = manage("backup", str(path), database_url=url_of(test_db))
    assert f"written to {path}" in made.stdout
    with tarfile.open(path) as tar:
        assert tar.getnames() == [MANIFEST, "database.pgdump"]
        manifest = json.loads(tar.extractfile(MANIFEST).read())
    rows = {t["model"]: t["rows"] for t in manifest["tables"]}
    assert rows["materials.Material"] == built["materials"] and rows["discovery.Candidate"] == built["candidates"]
    assert ["materials", "0006_elements_gin"] in manifest["migrations"] and manifest["vendor"] == "postgresql"

    restored = manage("restore", str(path), "--noinput", database_url=url_of(scratch_database))
    assert f"into the postgresql database '{scratch_database}'" in restored.stdout
    assert re.search(rf"materials\.Material +{built['materials']:,}\n", restored.stdout)

    original, restored_state = everything(test_db), everything(scratch_database)
    assert len(original["materials_material"]) == built["materials"]
    assert len(original["hullapi_stability"]) == built["stabilities"]
    assert len(original["discovery_candidate"]) == built["candidates"]
    assert len(original["discovery_discoveryround"]) == 1 and len(original["auth_user"]) == 1
    assert any(name == "material_elements_gin" for name, _ in original["(indexes)"])
    assert_same(restored_state, original)


def test_a_file_that_is_not_a_sound_backup_is_refused_and_changes_nothing(postgres, tmp_path):
    User.objects.create(username="alice")
    ImportRun.objects.create(importer="import_gnome", dataset="sample", source="gnome")
    good = tmp_path / "good.backup"
    call_command("backup", str(good), verbosity=0)
    with pytest.raises(CommandError, match="exists; pass --force"):
        call_command("backup", str(good), verbosity=0)
    with pytest.raises(CommandError, match="does not exist; create the directory"):
        call_command("backup", str(tmp_path / "nowhere" / "x.backup"), verbosity=0)
    User.objects.create(username="bob")  # the database now differs from the backup
    before = everything(connection.settings_dict["NAME"])
    data = good.read_bytes()
    with tarfile.open(good) as tar:
        payload = tar.getmember("database.pgdump")
        manifest = json.loads(tar.extractfile(MANIFEST).read())

    def variant(name: str, content: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    def repacked(name: str, edit=None, body: bytes | None = None) -> Path:
        if body is None:
            changed = dict(manifest)
            edit(changed)
            body = json.dumps(changed).encode()
        out = io.BytesIO()
        with tarfile.open(good) as source, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            tar.addfile(payload, source.extractfile(payload))
        return variant(name, out.getvalue())

    flipped = bytearray(data)
    flipped[payload.offset_data + payload.size // 2] ^= 0xFF
    cases = [
        (variant("half.backup", data[: len(data) // 2]), "is truncated: it has"),
        (variant("tail.backup", data[:-700]), "is truncated"),
        (variant("in-manifest.backup", data[:900]), "is truncated or corrupt"),
        (variant("flipped.backup", bytes(flipped)), "is corrupt: the SHA-256 of its payload"),
        (variant("notes.txt", b"not a backup at all\n" * 100), "is not a GNoME Explorer backup"),
        (variant("empty.backup", b""), "is empty"),
        (variant("raw.pgdump", data[payload.offset_data: payload.offset_data + payload.size]),
         "is a plain pg_dump archive"),
        (tmp_path / "missing.backup", "does not exist"),
        (repacked("future.backup", lambda m: m.update(migrations=[*m["migrations"], ["materials", "9999_future"]])),
         r"migration state is newer than this code's: 1 migration\(s\) it has are unknown here "
         r"\(materials.9999_future\)"),
        (repacked("format.backup", lambda m: m.update(format_version=99)), "format version 99"),
        (repacked("garbled.backup", body=b'{"format": "gnome-explorer-backup", '), "its manifest is not valid JSON"),
    ]
    for path, message in cases:
        with pytest.raises(CommandError, match=message):
            call_command("restore", str(path), interactive=False, verbosity=0)
        with pytest.raises(CommandError, match=message):
            call_command("restore", str(path), check=True, verbosity=0)
    assert_same(everything(connection.settings_dict["NAME"]), before)

    sqlite_backup = tmp_path / "from-sqlite.backup"
    with tarfile.open(good) as source, tarfile.open(sqlite_backup, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        body = json.dumps({**manifest, "vendor": "sqlite", "payload": "database.sqlite3"}).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
        renamed = copy.copy(payload)
        renamed.name = "database.sqlite3"
        tar.addfile(renamed, source.extractfile(payload))
    with pytest.raises(CommandError, match="is a backup of a sqlite database; the configured database is postgresql"):
        call_command("restore", str(sqlite_backup), interactive=False, verbosity=0)
    assert_same(everything(connection.settings_dict["NAME"]), before)

    call_command("restore", str(good), check=True, verbosity=0)
    assert_same(everything(connection.settings_dict["NAME"]), before)  # --check changes nothing either


def test_a_restore_that_fails_midway_changes_nothing(postgres, tmp_path):
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("an event trigger (the injected failure) needs a superuser")
    User.objects.create(username="alice")
    ImportRun.objects.create(importer="import_gnome", dataset="sample", source="gnome")
    path = tmp_path / "gnome.backup"
    call_command("backup", str(path), verbosity=0)
    at_backup = everything(connection.settings_dict["NAME"])
    User.objects.filter(username="alice").delete()
    User.objects.create(username="bob")
    ImportRun.objects.create(importer="import_mp_hull", dataset="snapshot", source="mp")
    changed = everything(connection.settings_dict["NAME"])
    assert changed != at_backup

    # The index builds come after every table was dropped, recreated and filled: fail there.
    with connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION gnx_test_refuse() RETURNS event_trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RAISE EXCEPTION 'index build refused by the test'; END $$")
        cursor.execute("CREATE EVENT TRIGGER gnx_test_refuse ON ddl_command_end WHEN TAG IN ('CREATE INDEX') "
                       "EXECUTE FUNCTION gnx_test_refuse()")
    try:
        with pytest.raises(CommandError, match="pg_restore failed .*index build refused by the test"):
            call_command("restore", str(path), interactive=False, verbosity=0)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP EVENT TRIGGER IF EXISTS gnx_test_refuse")
            cursor.execute("DROP FUNCTION IF EXISTS gnx_test_refuse()")
    assert_same(everything(connection.settings_dict["NAME"]), changed)

    # Another session reading a table: the restore gives up after --lock-timeout instead of waiting forever.
    reader = psycopg.connect(**conninfo(connection.settings_dict["NAME"]))
    try:
        reader.execute("SELECT count(*) FROM materials_material")  # holds its lock until the transaction ends
        with pytest.raises(CommandError, match=r"pg_restore waited 1 s for locks held by other sessions \(pid \d+"):
            call_command("restore", str(path), interactive=False, verbosity=0, lock_timeout=1)
    finally:
        reader.close()
    assert_same(everything(connection.settings_dict["NAME"]), changed)

    out = io.StringIO()
    call_command("restore", str(path), interactive=False, stdout=out)
    assert "every table's row count matches" in out.getvalue() and "auth.User" in out.getvalue()
    assert_same(everything(connection.settings_dict["NAME"]), at_backup)


# ---- SQLite (the embedded default) ----------------------------------------------------------------------


def sqlite_everything(path: Path) -> dict[str, list]:
    with closing(sqlite3.connect(path)) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        state = {t: db.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
        state["(schema)"] = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    return state


def test_the_embedded_sqlite_database_round_trips_and_refuses_what_it_must(system_rows, mp_rows, tmp_path):
    _, gnome = system_rows
    gnome = [row for row in gnome if row["elements"] == "Co-Li-O"]
    mp = hull_phases_of(gnome, mp_rows)
    write_jsonl(tmp_path / "gnome.jsonl.gz", gnome)
    write_csv(tmp_path / "mp.csv", mp, list(mp_rows[0]))
    source, fresh = tmp_path / "source.sqlite3", tmp_path / "fresh.sqlite3"
    setup = (
        "from django.core.management import call_command as c; from hullapi import services; "
        "from django.contrib.auth.models import User; "
        "c('migrate', verbosity=0); "
        f"c('import_mp_hull', {str(tmp_path / 'mp.csv')!r}, verbosity=0, workers=1); "
        f"c('import_gnome', {str(tmp_path / 'gnome.jsonl.gz')!r}, verbosity=0, workers=1); "
        "services.recompute('all', workers=1); services.recompute('mp', workers=1); "
        "User.objects.create_user('curator', password='a-long-test-password')"
    )
    manage("shell", "-c", setup, database_url=f"sqlite:///{source}")
    path = tmp_path / "embedded.backup"
    manage("backup", str(path), database_url=f"sqlite:///{source}")
    original = sqlite_everything(source)
    assert len(original["materials_material"]) == len(gnome) + len(mp) > 6
    assert len(original["hullapi_stability"]) == 2 * len(original["materials_material"])

    restored = manage("restore", str(path), "--noinput", database_url=f"sqlite:///{fresh}")
    assert "every table's row count matches" in restored.stdout
    restored_state = sqlite_everything(fresh)
    assert sorted(restored_state) == sorted(original)
    for name, rows in original.items():
        assert restored_state[name] == rows, f"{name} differs after the round trip"

    with sqlite3.connect(fresh) as db:
        db.execute("DELETE FROM hullapi_stability WHERE hull_set = 'mp'")
    changed = sqlite_everything(fresh)
    cut = tmp_path / "cut.backup"
    cut.write_bytes(path.read_bytes()[:-20])
    refused = manage("restore", str(cut), "--noinput", database_url=f"sqlite:///{fresh}", ok=False)
    assert refused.returncode != 0 and "is truncated or corrupt" in refused.stderr
    assert sqlite_everything(fresh) == changed

    # a writer holds the database: the restore gives up after --lock-timeout and changes nothing
    holder = sqlite3.connect(fresh, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE auth_user SET first_name = 'writing'")
    try:
        refused = manage("restore", str(path), "--noinput", "--lock-timeout", "1",
                         database_url=f"sqlite:///{fresh}", ok=False)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert refused.returncode != 0 and "held the database locked for 1 s; nothing was changed" in refused.stderr
    assert sqlite_everything(fresh) == changed
