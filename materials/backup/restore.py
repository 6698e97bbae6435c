"""Restoring a backup: every check that can fail runs before the database is touched; then ``pg_restore`` in one
transaction (PostgreSQL) or SQLite's backup API in one write, and every table's row count compared with the
manifest."""

from __future__ import annotations

import os
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader

from .archive import BackupError, BackupFile, Manifest, TableCount
from .database import find_tool, libpq_env, model_classes, run_tool, sqlite_backup, sqlite_path, table_total

__all__ = ["RestoreReport", "restore"]


@dataclass
class RestoreReport:
    manifest: Manifest
    counts: list[tuple[TableCount, int]] = field(default_factory=list)
    pending_migrations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    restored: bool = False


def restore(
    path: Path,
    *,
    alias: str = DEFAULT_DB_ALIAS,
    check_only: bool = False,
    confirm: Callable[[Manifest], bool] | None = None,
    lock_timeout_s: float = 60,
    progress: bool = False,
) -> RestoreReport:
    """Replace everything in database ``alias`` with the backup at ``path``, then compare every table's row count
    with the manifest. Every check that can fail runs before the database is touched; ``check_only`` stops there,
    and ``confirm`` (given the manifest) may still decline. ``lock_timeout_s`` bounds the wait for other sessions'
    locks, so that a restore fails (and changes nothing) rather than waiting behind a busy server forever."""
    connection = connections[alias]
    if connection.in_atomic_block:
        raise BackupError("restore replaces the database from another session; call it outside a transaction")
    started = time.perf_counter()
    with BackupFile(path) as backup_file:
        manifest = backup_file.manifest
        if manifest.vendor != connection.vendor:
            raise BackupError(f"{path} is a backup of a {manifest.vendor} database; the configured database is "
                              f"{connection.vendor}. A backup restores into the kind of database it came from "
                              "(to move data between them, use dumpdata and loaddata)")
        report = RestoreReport(manifest, pending_migrations=_check_migrations(manifest))
        if connection.vendor == "postgresql":
            try:
                _check_no_stale_tables(manifest, connection)
            except OperationalError as exc:
                raise BackupError(f"cannot reach the configured database: {exc}".strip()) from None
            backup_file.verify()
            if check_only or (confirm is not None and not confirm(manifest)):
                return report
            _restore_postgresql(backup_file, connection, lock_timeout_s, progress)
        else:
            target = sqlite_path(connection)
            with tempfile.TemporaryDirectory(prefix=".restore.", dir=target.parent) as work:
                copy = Path(work) / manifest.payload
                with open(copy, "wb") as fh:
                    backup_file.verify(fh.write)
                _check_sqlite_file(copy, path)
                if check_only or (confirm is not None and not confirm(manifest)):
                    return report
                connection.close()
                with closing(sqlite3.connect(copy)) as source, closing(sqlite3.connect(target, timeout=1)) as dest:
                    sqlite_backup(source, dest, lock_timeout_s, f"writing {target}")
    report.restored = True
    cache.clear()  # cached responses describe the database that was replaced
    report.counts = _compare_counts(manifest, connection)
    report.seconds = time.perf_counter() - started
    return report


def _restore_postgresql(backup_file: BackupFile, connection: BaseDatabaseWrapper, lock_timeout_s: float,
                        progress: bool) -> None:
    tool = find_tool("pg_restore")
    env = libpq_env(connection.settings_dict)
    env["PGAPPNAME"] = f"gnome-restore-{os.getpid()}-{secrets.token_hex(4)}"
    connection.close()  # this process's own session must hold no lock on the tables being replaced
    watchdog = _LockWatchdog(connection, env["PGAPPNAME"], lock_timeout_s)
    watchdog.start()
    try:
        run_tool(
            [tool, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--verbose",
             f"--dbname={connection.settings_dict['NAME']}"],
            env=env, stdin=backup_file.chunks(), marker="processing data for table",
            total=table_total(backup_file.manifest.migrations, backup_file.manifest.tables), progress=progress,
        )
    except BackupError:
        if watchdog.verdict:
            raise BackupError(watchdog.verdict) from None
        raise
    finally:
        watchdog.stop()


class _LockWatchdog(threading.Thread):
    """Cancels pg_restore's statement once it has waited ``timeout_s`` for another session's lock, so that a
    restore behind a busy server fails (its one transaction rolled back) instead of waiting forever.
    pg_restore cannot be given a lock_timeout: every archive starts by setting ``lock_timeout = 0``."""

    def __init__(self, connection: BaseDatabaseWrapper, application_name: str, timeout_s: float) -> None:
        super().__init__(name="restore-lock-watchdog", daemon=True)
        self.settings_dict, self.alias = dict(connection.settings_dict), connection.alias
        self.wrapper_class = type(connection)
        self.application_name, self.timeout_s = application_name, timeout_s
        self.verdict = ""
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()
        self.join()

    def run(self) -> None:
        watcher = self.wrapper_class(self.settings_dict, self.alias)
        waiting_since: float | None = None
        try:
            while not self._stopped.wait(0.25):
                with watcher.cursor() as cursor:
                    cursor.execute("SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity "
                                   "WHERE application_name = %s AND wait_event_type = 'Lock'", [self.application_name])
                    row = cursor.fetchone()
                    if row is None or not row[1]:
                        waiting_since = None
                        continue
                    waiting_since = waiting_since or time.monotonic()
                    if time.monotonic() - waiting_since < self.timeout_s:
                        continue
                    cursor.execute("SELECT pid, application_name, state, left(query, 60) FROM pg_stat_activity "
                                   "WHERE pid = ANY(%s)", [list(row[1])])
                    blockers = "; ".join(f"pid {pid} {name or '(no application name)'}, {state}: {query!r}"
                                         for pid, name, state, query in cursor.fetchall())
                    self.verdict = (f"pg_restore waited {self.timeout_s:.0f} s for locks held by other sessions "
                                    f"({blockers}) and was cancelled; nothing was changed. Stop the web server and "
                                    "workers, or pass a longer --lock-timeout")
                    cursor.execute("SELECT pg_cancel_backend(%s)", [row[0]])
                    return
        finally:
            watcher.close()


def _check_migrations(manifest: Manifest) -> list[str]:
    """Refuse a backup whose migration state is newer than this code's; return the migrations it lacks."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    applied = {(app, name) for app, name in manifest.migrations}
    newer = sorted(applied - known)
    if newer:
        names = ", ".join(f"{app}.{name}" for app, name in newer[:5]) + (" ..." if len(newer) > 5 else "")
        raise BackupError(f"the backup's migration state is newer than this code's: {len(newer)} migration(s) it "
                          f"has are unknown here ({names}); restore it with the code that made it")
    return [f"{app}.{name}" for app, name in sorted(known - applied)]


def _check_no_stale_tables(manifest: Manifest, connection: BaseDatabaseWrapper) -> None:
    """pg_restore --clean replaces only what the backup has: a model table the backup lacks (one a later migration
    made) would outlive the restore and break the next ``migrate``."""
    in_backup = {t.table for t in manifest.tables}
    existing = set(connection.introspection.table_names())
    stale = sorted((existing & {model._meta.db_table for model in model_classes()}) - in_backup)
    if stale:
        raise BackupError(f"the database has tables the backup does not ({', '.join(stale)}), from migrations "
                          "newer than the backup; restore into an empty database (createdb) instead")


def _check_sqlite_file(copy: Path, path: Path) -> None:
    try:
        with closing(sqlite3.connect(f"file:{copy}?mode=ro", uri=True)) as db:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is corrupt: its SQLite payload cannot be read ({exc})") from None
    if result != "ok":
        raise BackupError(f"{path} is corrupt: SQLite's quick_check of its payload says {result!r}")


def _compare_counts(manifest: Manifest, connection: BaseDatabaseWrapper) -> list[tuple[TableCount, int]]:
    counts = []
    with connection.cursor() as cursor:
        for table in manifest.tables:
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table.table)}")
            counts.append((table, cursor.fetchone()[0]))
    wrong = [f"{t.model} {found} (backup: {t.rows})" for t, found in counts if found != t.rows]
    if wrong:
        raise BackupError(f"the restore finished, but row counts differ from the backup's manifest: {', '.join(wrong)}")
    return counts
