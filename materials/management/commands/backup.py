from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from materials.backup import BackupError, backup, describe_counts


class Command(BaseCommand):
    help = (
        "Back up the whole database to one file: pg_dump (custom format) on PostgreSQL, SQLite's online backup "
        "(gzip-compressed) on the embedded default, with a manifest (migration state, row count of every model, "
        "checksum) that manage.py restore checks. The file appears only when it is complete."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="Backup file to write.")
        parser.add_argument("--force", action="store_true", help="Replace PATH if it exists.")
        parser.add_argument("--lock-timeout", type=float, default=60, metavar="SECONDS",
                            help="Give up after waiting this long for another session's lock (a migration, a "
                                 "writer; default 60).")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args, **options):
        path = Path(options["path"])
        if options["lock_timeout"] <= 0:
            raise CommandError("--lock-timeout must be a positive number of seconds")
        started = time.perf_counter()
        try:
            manifest = backup(path, alias=options["database"], overwrite=options["force"],
                              lock_timeout_s=options["lock_timeout"], progress=options["verbosity"] > 0)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        seconds = time.perf_counter() - started
        size = path.stat().st_size
        shown = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"
        self.stdout.write(self.style.SUCCESS(
            f"Backup of the {manifest.vendor} database {manifest.database!r} written to {path}: {shown} "
            f"in {seconds:.1f} s, {manifest.total_rows:,} rows in {len(manifest.tables)} tables"
        ))
        if options["verbosity"] > 1:
            for line in describe_counts(manifest.tables):
                self.stdout.write(line)
