"""The backup file: a tar archive of ``manifest.json`` (what the backup holds, written first) and the payload;
writing one, and reading one back with every check a restore makes before it touches the database."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "PAYLOADS", "BackupError", "BackupFile", "Manifest", "TableCount",
           "describe_counts", "file_digest", "write_archive"]

FORMAT = "gnome-explorer-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PAYLOADS = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
CHUNK = 1 << 20
MANIFEST_MAX_BYTES = 16 << 20


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


def write_archive(target: Path, manifest: Manifest, payload: Path, *, compress: bool) -> None:
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


def file_digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def describe_counts(rows: list[TableCount]) -> list[str]:
    """One line per non-empty table, model label then rows; the empty ones counted on a last line."""
    width = max((len(t.model) for t in rows), default=0)
    lines = [f"  {t.model:<{width}}  {t.rows:>10,}" for t in rows if t.rows]
    empty = sum(1 for t in rows if not t.rows)
    if empty:
        lines.append(f"  ({empty} empty tables)")
    return lines
