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
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.apps import apps
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from tqdm import tqdm

FORMAT = "gnome-explorer-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOADS = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
CHUNK = 1 << 20
MANIFEST_MAX_BYTES = 16 << 20
# libpq's environment variables for the connection OPTIONS Django may carry (dj-database-url puts ?sslmode= there)
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
    "passfile": "PGPASSFILE", "service": "PGSERVICE", "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS", "application_name": "PGAPPNAME", "target_session_attrs": "PGTARGETSESSIONATTRS",
}


class BackupError(Exception):
    """A backup or restore that cannot go ahead, or did not; the message names what is wrong."""


@dataclass
class TableCount:
    model: str
    table: str
    rows: int


@dataclass
class Manifest:
    """What a backup holds; written first in the file so that a restore can check it before anything else."""

    vendor: str
    database: str
    created_at: str
    payload: str
    payload_bytes: int
    payload_sha256: str
    migrations: list[list[str]]
    tables: list[TableCount]
    server_version: str = ""
    tool: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: Path) -> Manifest:
        try:
            doc = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BackupError(f"{where}: its manifest is not valid JSON ({exc}); the file is corrupt") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise BackupError(f"{where} is not a GNoME Explorer backup (its manifest.json is not one)")
        version = doc.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise BackupError(f"{where} is a backup of format version {version!r}; this code reads up to "
                              f"{FORMAT_VERSION}: restore it with the newer code that made it")
        try:
            doc["tables"] = [TableCount(**t) for t in doc["tables"]]
            manifest = cls(**doc)
        except (KeyError, TypeError) as exc:
            raise BackupError(f"{where}: its manifest lacks or mistypes a field ({exc}); the file is corrupt") from None
        if not all(isinstance(m, list) and len(m) == 2 for m in manifest.migrations):
            raise BackupError(f"{where}: its manifest's migrations are not [app, name] pairs; the file is corrupt")
        if manifest.vendor not in PAYLOADS or manifest.payload != PAYLOADS[manifest.vendor]:
            raise BackupError(f"{where}: its manifest names vendor {manifest.vendor!r} and payload "
                              f"{manifest.payload!r}, which this code does not know")
        return manifest


@dataclass
class RestoreReport:
    manifest: Manifest
    counts: list[tuple[TableCount, int]] = field(default_factory=list)
    pending_migrations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    restored: bool = False


# ---- backup ---------------------------------------------------------------------------------------------


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
        manifest.payload_bytes, manifest.payload_sha256 = _digest(payload)
        partial = work / "backup.partial"
        _write_archive(partial, manifest, payload, compress=connection.vendor == "sqlite")
        os.replace(partial, path)
        _fsync_directory(path.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _dump_postgresql(connection: BaseDatabaseWrapper, payload: Path, lock_timeout_s: float,
                     progress: bool) -> Manifest:
    tool = _tool("pg_dump")
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
            migrations = _applied_migrations(cursor, snapshot_connection)
            tables = _count_tables(cursor, snapshot_connection)
        _run_tool(
            [tool, "--format=custom", f"--snapshot={snapshot}", f"--lock-wait-timeout={int(lock_timeout_s * 1000)}",
             "--verbose", f"--file={payload}", f"--dbname={name}"],
            env=_libpq_env(connection.settings_dict), marker="dumping contents of table",
            total=_table_total(migrations, tables), progress=progress,
        )
    finally:
        snapshot_connection.close()
    return Manifest(vendor="postgresql", database=name, created_at=timezone.now().isoformat(), payload=payload.name,
                    payload_bytes=0, payload_sha256="", migrations=migrations, tables=tables,
                    server_version=server_version, tool=_tool_version(tool))


def _copy_sqlite(connection: BaseDatabaseWrapper, payload: Path, lock_timeout_s: float) -> Manifest:
    source_path = _sqlite_path(connection)
    if not source_path.is_file():
        raise BackupError(f"the SQLite database {source_path} does not exist (run manage.py migrate first)")
    with closing(sqlite3.connect(source_path, timeout=1)) as source, closing(sqlite3.connect(payload)) as copy:
        _sqlite_backup(source, copy, lock_timeout_s, f"reading {source_path}")
    with closing(sqlite3.connect(payload, isolation_level=None)) as copy:
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        cursor = copy.cursor()
        migrations = _applied_migrations(cursor, connection)
        tables = _count_tables(cursor, connection)
    return Manifest(vendor="sqlite", database=str(source_path), created_at=timezone.now().isoformat(),
                    payload=payload.name, payload_bytes=0, payload_sha256="", migrations=migrations, tables=tables,
                    server_version=sqlite3.sqlite_version, tool=f"sqlite3 online backup API {sqlite3.sqlite_version}")


def _write_archive(target: Path, manifest: Manifest, payload: Path, *, compress: bool) -> None:
    """The archive is readable by its owner only: it holds every row, password hashes and sessions included."""
    data = manifest.to_json()
    info = tarfile.TarInfo(MANIFEST)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as raw:
        options = {"compresslevel": 6} if compress else {}
        with tarfile.open(fileobj=raw, mode="w:gz" if compress else "w", format=tarfile.PAX_FORMAT,
                          **options) as tar:
            tar.addfile(info, io.BytesIO(data))
            member = tar.gettarinfo(payload, arcname=manifest.payload)
            member.uid = member.gid = 0
            member.mode = 0o600
            member.uname = member.gname = ""
            with open(payload, "rb") as fh:
                tar.addfile(member, fh)
        raw.flush()
        os.fsync(raw.fileno())


# ---- reading a backup -----------------------------------------------------------------------------------


class BackupFile:
    """An opened backup whose container and manifest have been checked; the payload is checked on reading."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise BackupError(f"{self.path} does not exist")
        if not self.path.is_file():
            raise BackupError(f"{self.path} is not a file")
        self.size = self.path.stat().st_size
        if self.size == 0:
            raise BackupError(f"{self.path} is empty")
        self._fh = open(self.path, "rb")
        try:
            self._open()
        except BaseException:
            self._fh.close()
            raise

    def _open(self) -> None:
        head = self._fh.read(512)
        self._fh.seek(0)
        if head.startswith(b"PGDMP"):
            raise BackupError(f"{self.path} is a plain pg_dump archive, not a backup made by manage.py backup "
                              "(it has no manifest to check it by); restore it with pg_restore itself")
        if head.startswith(b"SQLite format 3\x00"):
            raise BackupError(f"{self.path} is a SQLite database file, not a backup made by manage.py backup")
        self.compressed = head.startswith(b"\x1f\x8b")
        self.manifest = None
        try:
            self._tar = tarfile.open(fileobj=self._fh, mode="r:gz" if self.compressed else "r:")
            first = self._tar.next()
            if first is None or first.name != MANIFEST or not first.isfile():
                raise BackupError(f"{self.path} is not a GNoME Explorer backup (it does not start with {MANIFEST})")
            if first.size > MANIFEST_MAX_BYTES:
                raise BackupError(f"{self.path}: its {MANIFEST} has {first.size} bytes; the file is corrupt")
            raw = self._tar.extractfile(first).read()
            if len(raw) != first.size:
                raise BackupError(f"{self.path} is truncated: it ends inside its {MANIFEST}")
            self.manifest = Manifest.from_json(raw, self.path)
            self._member = self._tar.next()
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            starts_as_backup = head.startswith(MANIFEST.encode() + b"\x00")
            if self.manifest is None and not starts_as_backup and not isinstance(exc, (EOFError, zlib.error)):
                raise BackupError(f"{self.path} is not a GNoME Explorer backup (not a tar archive: {exc})") from None
            raise BackupError(f"{self.path} is truncated or corrupt ({exc})") from None
        if self._member is None or self._member.name != self.manifest.payload:
            raise BackupError(f"{self.path} is truncated: its payload {self.manifest.payload} is missing")
        if self._member.size != self.manifest.payload_bytes:
            raise BackupError(f"{self.path} is corrupt: its payload has {self._member.size} bytes, its manifest "
                              f"says {self.manifest.payload_bytes}")
        if not self.compressed and self._member.offset_data + self._member.size > self.size:
            raise BackupError(f"{self.path} is truncated: it has {self.size:,} bytes, its payload ends at byte "
                              f"{self._member.offset_data + self._member.size:,}")

    def __enter__(self) -> BackupFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._fh.close()

    def chunks(self) -> Iterator[bytes]:
        """The payload, read in order; a short read is reported as a truncated file."""
        try:
            reader = self._tar.extractfile(self._member)
            remaining = self._member.size
            while remaining > 0:
                chunk = reader.read(min(CHUNK, remaining))
                if not chunk:
                    raise BackupError(f"{self.path} is truncated: its payload ends {remaining:,} bytes early")
                remaining -= len(chunk)
                yield chunk
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise BackupError(f"{self.path} is truncated or corrupt ({exc})") from None

    def verify(self, sink: Callable[[bytes], object] | None = None) -> None:
        """Read the whole payload (handing each chunk to ``sink``) and compare its SHA-256 with the manifest's."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
            if sink is not None:
                sink(chunk)
        if digest.hexdigest() != self.manifest.payload_sha256:
            raise BackupError(f"{self.path} is corrupt: the SHA-256 of its payload differs from its manifest's")
        self._check_end()

    def _check_end(self) -> None:
        """After the payload: tar's end-of-archive blocks, and for gzip the intact trailer, so that a file cut
        in its last bytes is refused too."""
        padded = -(-self._member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        stream = self._tar.fileobj
        try:
            stream.seek(self._member.offset_data + padded)
            rest = stream.read()
        except (EOFError, zlib.error, OSError) as exc:
            raise BackupError(f"{self.path} is truncated or corrupt after its payload ({exc})") from None
        marker = rest[:2 * tarfile.BLOCKSIZE]
        if len(marker) < 2 * tarfile.BLOCKSIZE or marker.strip(b"\x00"):
            raise BackupError(f"{self.path} is truncated: its end-of-archive marker is missing")
        if not self.compressed and self.size % tarfile.RECORDSIZE:
            raise BackupError(f"{self.path} is truncated: {self.size:,} bytes is not a whole number of tar records")


# ---- restore --------------------------------------------------------------------------------------------


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
            target = _sqlite_path(connection)
            with tempfile.TemporaryDirectory(prefix=".restore.", dir=target.parent) as work:
                copy = Path(work) / manifest.payload
                with open(copy, "wb") as fh:
                    backup_file.verify(fh.write)
                _check_sqlite_file(copy, path)
                if check_only or (confirm is not None and not confirm(manifest)):
                    return report
                connection.close()
                with closing(sqlite3.connect(copy)) as source, closing(sqlite3.connect(target, timeout=1)) as dest:
                    _sqlite_backup(source, dest, lock_timeout_s, f"writing {target}")
    report.restored = True
    cache.clear()  # cached responses describe the database that was replaced
    report.counts = _compare_counts(manifest, connection)
    report.seconds = time.perf_counter() - started
    return report


def _restore_postgresql(backup_file: BackupFile, connection: BaseDatabaseWrapper, lock_timeout_s: float,
                        progress: bool) -> None:
    tool = _tool("pg_restore")
    env = _libpq_env(connection.settings_dict)
    env["PGAPPNAME"] = f"gnome-restore-{os.getpid()}-{secrets.token_hex(4)}"
    connection.close()  # this process's own session must hold no lock on the tables being replaced
    watchdog = _LockWatchdog(connection, env["PGAPPNAME"], lock_timeout_s)
    watchdog.start()
    try:
        _run_tool(
            [tool, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--verbose",
             f"--dbname={connection.settings_dict['NAME']}"],
            env=env, stdin=backup_file.chunks(), marker="processing data for table",
            total=_table_total(backup_file.manifest.migrations, backup_file.manifest.tables), progress=progress,
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
    stale = sorted((existing & {model._meta.db_table for model in _models()}) - in_backup)
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


# ---- shared helpers -------------------------------------------------------------------------------------


def _models() -> list:
    return [m for m in apps.get_models(include_auto_created=True) if m._meta.managed and not m._meta.proxy]


def _applied_migrations(cursor, connection: BaseDatabaseWrapper) -> list[list[str]]:
    if "django_migrations" not in connection.introspection.table_names(cursor):
        return []
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    return [[app, name] for app, name in cursor.fetchall()]


def _count_tables(cursor, connection: BaseDatabaseWrapper) -> list[TableCount]:
    existing = set(connection.introspection.table_names(cursor))
    tables, seen = [], set()
    for model in sorted(_models(), key=lambda m: m._meta.label):
        table = model._meta.db_table
        if table in existing and table not in seen:
            seen.add(table)
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            tables.append(TableCount(model._meta.label, table, cursor.fetchone()[0]))
    return tables


def _table_total(migrations: list, tables: list[TableCount]) -> int:
    """Tables pg_dump and pg_restore report data for: every model's and django_migrations."""
    return len(tables) + (1 if migrations else 0)


def _sqlite_path(connection: BaseDatabaseWrapper) -> Path:
    if connection.is_in_memory_db():
        raise BackupError("the configured SQLite database is in memory; there is no file to back up or restore")
    return Path(connection.settings_dict["NAME"])


def _sqlite_backup(source: sqlite3.Connection, dest: sqlite3.Connection, timeout_s: float, what: str) -> None:
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


def _libpq_env(db: dict) -> dict[str, str]:
    env = dict(os.environ)
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])
    for option, var in LIBPQ_OPTIONS.items():
        value = (db.get("OPTIONS") or {}).get(option)
        if value not in (None, ""):
            env[var] = str(value)
    return env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed or not on PATH (it comes with PostgreSQL's client tools, "
                          "e.g. the Debian package postgresql-client)")
    return found


def _tool_version(tool: str) -> str:
    result = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


def _run_tool(args: list[str], *, env: dict[str, str], marker: str, total: int, progress: bool,
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


def _digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_counts(rows: list[TableCount]) -> list[str]:
    """One line per non-empty table, model label then rows; the empty ones counted on a last line."""
    width = max((len(t.model) for t in rows), default=0)
    lines = [f"  {t.model:<{width}}  {t.rows:>10,}" for t in rows if t.rows]
    empty = sum(1 for t in rows if not t.rows)
    if empty:
        lines.append(f"  ({empty} empty tables)")
    return lines
