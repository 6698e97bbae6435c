"""What backup and restore need of the database and its tools: the model tables and their row counts, the
migration state, SQLite's online backup, and pg_dump/pg_restore run with libpq's environment and a progress bar."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from django.apps import apps
from django.db.backends.base.base import BaseDatabaseWrapper
from tqdm import tqdm

from .archive import BackupError, TableCount

__all__ = ["LIBPQ_OPTIONS", "applied_migrations", "count_tables", "find_tool", "libpq_env", "model_classes", "run_tool",
           "sqlite_backup", "sqlite_path", "table_total", "tool_version"]

# libpq's environment variables for the connection OPTIONS Django may carry (dj-database-url puts ?sslmode= there)
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "passfile": "PGPASSFILE", "service": "PGSERVICE", "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS", "application_name": "PGAPPNAME", "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def model_classes() -> list:
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]


def applied_migrations(cursor, connection: BaseDatabaseWrapper) -> list[list[str]]:
    if "django_migrations" not in connection.introspection.table_names(cursor):
        return []
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    return [[app, name] for app, name in cursor.fetchall()]


def count_tables(cursor, connection: BaseDatabaseWrapper) -> list[TableCount]:
    existing = set(connection.introspection.table_names(cursor))
    tables, seen = [], set()
    for model in sorted(model_classes(), key=lambda m: m._meta.label):
        table = model._meta.db_table
        if table in existing and table not in seen:
            seen.add(table)
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            tables.append(TableCount(model._meta.label, table, cursor.fetchone()[0]))
    return tables


def table_total(migrations: list, tables: list[TableCount]) -> int:
    """Tables pg_dump and pg_restore report data for: every model's and django_migrations."""
    return len(tables) + (1 if migrations else 0)


def sqlite_path(connection: BaseDatabaseWrapper) -> Path:
    if connection.is_in_memory_db():
        raise BackupError("the configured SQLite database is in memory; there is no file to back up or restore")
    return Path(connection.settings_dict["NAME"])


def sqlite_backup(source: sqlite3.Connection, dest: sqlite3.Connection, timeout_s: float, what: str) -> None:
    """Copy every page in one step (one read transaction of the source, one write transaction of the
    destination, so it is all or nothing); give up after ``timeout_s`` of waiting for another connection's lock."""
    deadline = time.monotonic() + timeout_s

    def waiting(status: int, remaining: int, total: int) -> None:
        if status in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) and time.monotonic() > deadline:
            raise TimeoutError

    try:
        source.backup(dest, pages=-1, progress=waiting)
    except TimeoutError:
        raise BackupError(f"{what}: another connection held the database locked for {timeout_s:.0f} s; nothing was "
                          "changed (stop the server and workers, or pass a longer --lock-timeout)") from None
    except sqlite3.Error as exc:
        raise BackupError(f"{what}: SQLite's backup failed ({exc}); nothing was changed") from None


def libpq_env(db: dict) -> dict[str, str]:
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])
    for option, var in LIBPQ_OPTIONS.items():
        value = (db.get("OPTIONS") or {}).get(option)
        if value not in (None, ""):
            env[var] = str(value)
    return env


def find_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed or not on PATH (it comes with PostgreSQL's client tools, "
                          "e.g. the Debian package postgresql-client)")
    return found


def tool_version(tool: str) -> str:
    result = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


def run_tool(args: list[str], *, env: dict[str, str], marker: str, total: int, progress: bool,
              stdin: Iterator[bytes] | None = None) -> None:
    """Run pg_dump or pg_restore with ``--verbose``: its lines that contain ``marker`` advance the progress bar,
    the others that are not progress are kept for the error. ``stdin`` is fed from a thread so that neither pipe
    can fill while the other is waited on."""
    name = Path(args[0]).name
    proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    failures: list[BaseException] = []
    feeder = None
    if stdin is not None:
        def feed() -> None:
            try:
                for chunk in stdin:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass  # the tool stopped reading; its own message says why
            except BaseException as exc:
                failures.append(exc)
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass

        feeder = threading.Thread(target=feed, name=f"{name}-stdin", daemon=True)
        feeder.start()
    messages: list[str] = []
    with tqdm(total=total, unit="table", desc=name, disable=not progress) as bar:
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if marker in line:
                bar.update()
            elif not line.startswith(f"{name}: ") or ": error:" in line or ": warning:" in line:
                messages.append(line)
    returncode = proc.wait()
    if feeder is not None:
        feeder.join()
    if failures:
        raise BackupError(f"{failures[0]} ({name} exit status {returncode})") from None
    if returncode != 0:
        detail = " | ".join(messages[-6:]) or "no message"
        raise BackupError(f"{name} failed (exit status {returncode}): {detail}")
