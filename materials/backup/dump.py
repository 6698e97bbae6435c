"""Writing a backup: ``pg_dump`` in the snapshot the manifest's counts are read in (PostgreSQL), or SQLite's
online backup API (the embedded default); the finished file is put in place by a rename, never left partial."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from .archive import PAYLOADS, BackupError, Manifest, file_digest, write_archive
from .database import (
    applied_migrations,
    count_tables,
    find_tool,
    libpq_env,
    run_tool,
    sqlite_backup,
    sqlite_path,
    table_total,
    tool_version,
)

__all__ = ["backup"]


def backup(path: Path, *, alias: str = DEFAULT_DB_ALIAS, overwrite: bool = False, lock_timeout_s: float = 60,
           progress: bool = False) -> Manifest:
    """Write a backup of database ``alias`` to ``path``, atomically: a work directory beside ``path`` (the same
    file system) holds the payload and the archive until a rename puts the finished file in place, so ``path``
    is never a partial backup, even when the process is killed."""
    path = Path(path)
    if path.is_dir():
        raise BackupError(f"{path} is a directory; give the backup file's name")
    if not path.parent.is_dir():
        raise BackupError(f"{path.parent} does not exist; create the directory first")
    if path.exists() and not overwrite:
        raise BackupError(f"{path} exists; pass --force to replace it")
    connection = connections[alias]
    if connection.vendor not in PAYLOADS:
        raise BackupError(f"backups support PostgreSQL and SQLite, not {connection.vendor}")
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        payload = work / PAYLOADS[connection.vendor]
        if connection.vendor == "postgresql":
            manifest = _dump_postgresql(connection, payload, lock_timeout_s, progress)
        else:
            manifest = _copy_sqlite(connection, payload, lock_timeout_s)
        manifest.payload_bytes, manifest.payload_sha256 = file_digest(payload)
        partial = work / "backup.partial"
        write_archive(partial, manifest, payload, compress=connection.vendor == "sqlite")
        os.replace(partial, path)
        fsync_directory(path.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _dump_postgresql(connection: BaseDatabaseWrapper, payload: Path, lock_timeout_s: float,
                     progress: bool) -> Manifest:
    tool = find_tool("pg_dump")
    name = connection.settings_dict["NAME"]
    snapshot_connection = type(connection)(dict(connection.settings_dict), connection.alias)
    try:
        try:
            snapshot_connection.ensure_connection()
        except OperationalError as exc:
            raise BackupError(f"cannot reach the configured database: {exc}".strip()) from None
        snapshot_connection.set_autocommit(False)
        with snapshot_connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
            snapshot, server_version = cursor.fetchone()
            migrations = applied_migrations(cursor, snapshot_connection)
            tables = count_tables(cursor, snapshot_connection)
        run_tool(
            [tool, "--format=custom", f"--snapshot={snapshot}", f"--lock-wait-timeout={int(lock_timeout_s * 1000)}",
             "--verbose", f"--file={payload}", f"--dbname={name}"],
            env=libpq_env(connection.settings_dict), marker="dumping contents of table",
            total=table_total(migrations, tables), progress=progress,
        )
    finally:
        snapshot_connection.close()
    return Manifest(vendor="postgresql", database=name, created_at=timezone.now().isoformat(), payload=payload.name,
                    payload_bytes=0, payload_sha256="", migrations=migrations, tables=tables,
                    server_version=server_version, tool=tool_version(tool))


def _copy_sqlite(connection: BaseDatabaseWrapper, payload: Path, lock_timeout_s: float) -> Manifest:
    source_path = sqlite_path(connection)
    if not source_path.is_file():
        raise BackupError(f"the SQLite database {source_path} does not exist (run manage.py migrate first)")
    with closing(sqlite3.connect(source_path, timeout=1)) as source, closing(sqlite3.connect(payload)) as copy:
        sqlite_backup(source, copy, lock_timeout_s, f"reading {source_path}")
    with closing(sqlite3.connect(payload, isolation_level=None)) as copy:
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        cursor = copy.cursor()
        migrations = applied_migrations(cursor, connection)
        tables = count_tables(cursor, connection)
    return Manifest(vendor="sqlite", database=str(source_path), created_at=timezone.now().isoformat(),
                    payload=payload.name, payload_bytes=0, payload_sha256="", migrations=migrations, tables=tables,
                    server_version=sqlite3.sqlite_version, tool=f"sqlite3 online backup API {sqlite3.sqlite_version}")


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
