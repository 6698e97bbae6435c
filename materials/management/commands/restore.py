from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from materials.backup import BackupError, Manifest, describe_counts, restore


class Command(BaseCommand):
    help = (
        "Replace everything in the configured database with a backup made by manage.py backup, in one transaction, "
        "then check every table's row count against the backup's manifest. A file that is not a backup, is "
        "truncated or corrupt, or comes from newer code is refused before the database is touched."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="Backup file made by manage.py backup.")
        parser.add_argument("--check", action="store_true",
                            help="Only check the file and whether it can be restored here; change nothing.")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="Do not ask for confirmation.")
        parser.add_argument("--lock-timeout", type=float, default=60, metavar="SECONDS",
                            help="Give up (changing nothing) after waiting this long for other sessions' locks "
                                 "(default 60).")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="Database alias (default: default).")

    def handle(self, *args, **options):
        if options["lock_timeout"] <= 0:
            raise CommandError("--lock-timeout must be a positive number of seconds")
        path = Path(options["path"])
        self.target = target = connections[options["database"]].settings_dict["NAME"]
        try:
            report = restore(path, alias=options["database"], check_only=options["check"],
                             confirm=self.confirm if options["interactive"] else None,
                             lock_timeout_s=options["lock_timeout"], progress=options["verbosity"] > 0)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = report.manifest
        made = f"backup of {manifest.database!r} made {manifest.created_at}, {manifest.total_rows:,} rows"
        if options["check"]:
            self.stdout.write(self.style.SUCCESS(f"{path} is a sound backup and can be restored here ({made})"))
        elif not report.restored:
            raise CommandError("restore cancelled; nothing was changed")
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Restored {path} into the {manifest.vendor} database {target!r} in {report.seconds:.1f} s ({made}); "
                f"every table's row count matches the backup's manifest."
            ))
            if options["verbosity"] > 0:
                for line in describe_counts([table for table, _ in report.counts]):
                    self.stdout.write(line)
        if report.pending_migrations:
            names = ", ".join(report.pending_migrations[:5]) + (" ..." if len(report.pending_migrations) > 5 else "")
            self.stdout.write(self.style.WARNING(
                f"The backup predates {len(report.pending_migrations)} migration(s) of this code ({names}): "
                "run manage.py migrate after restoring it."
            ))

    def confirm(self, manifest: Manifest) -> bool:
        answer = input(
            f"This replaces everything in the database {self.target!r} with the "
            f"backup of {manifest.database!r} made {manifest.created_at} ({manifest.total_rows:,} rows).\n"
            "Type 'yes' to continue, or anything else to cancel: "
        )
        return answer.strip() == "yes"
