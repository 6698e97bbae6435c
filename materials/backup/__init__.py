"""Backup and restore of the whole database, each backup checked before it touches anything.

A backup is one file, a tar archive of two members: ``manifest.json`` (vendor, migration state, the row count
of every model's table, size and SHA-256 of the payload), then the payload. A restore reads the manifest
first, so it can refuse a file that is not a backup, is truncated or corrupt, comes from another kind of
database, or has a migration state newer than this code, before the database is touched.

- PostgreSQL: the payload is ``pg_dump --format=custom``. The manifest's counts and migrations are read in the
  snapshot pg_dump dumps (``pg_export_snapshot``), so a backup taken while the site writes matches its manifest
  exactly. The custom format is compressed, carries the SQL functions and expression indexes the migrations
  create (``dumpdata`` carries none of them), and stays a plain pg_dump archive (``tar -xf`` gives it back)
  that ``pg_restore`` lists, restores selectively or in parallel (``-j``). Restore is
  ``pg_restore --clean --if-exists --no-owner --single-transaction``: one transaction, so a restore that fails
  anywhere, even while building the last index, leaves the database as it was.
- SQLite (the embedded default): the payload is a copy made with SQLite's online backup API, gzip-compressed,
  and a restore copies it back with the same API. That is chosen over ``dumpdata``/``loaddata`` because
  it is exact (every table, float, JSON document and sequence, bit for bit, with no app list to keep up to date), is
  a consistent snapshot even while the server writes, and restores in one write transaction of the destination
  (one backup step), where ``loaddata`` would first have to delete every row, then save one object at a time
  through the ORM with the whole JSON fixture in memory.

The connection parameters come from ``settings.DATABASES``; the password reaches pg_dump and pg_restore in
``PGPASSWORD``, never on a command line.

The package: ``archive`` (the file format, writing and checking one), ``dump`` (``backup``), ``restore``
(``restore``), ``database`` (what both need of the database and of pg_dump/pg_restore).
"""

from __future__ import annotations

from .archive import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    PAYLOADS,
    BackupError,
    BackupFile,
    Manifest,
    TableCount,
    describe_counts,
)
from .dump import backup
from .restore import RestoreReport, restore

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "PAYLOADS", "BackupError", "BackupFile", "Manifest", "RestoreReport",
           "TableCount", "backup", "describe_counts", "restore"]
