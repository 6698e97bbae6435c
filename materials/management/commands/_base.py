"""Shared options and reporting of the importer commands."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from materials.importing import ImportSpec, run_import
from materials.readers import DatasetError


class ImportCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="Import only the first N rows.")
        parser.add_argument(
            "--workers", type=int, default=None, help="Worker processes for parsing and symmetry (default: one per core)."
        )
        parser.add_argument("--batch-size", type=int, default=2000, help="Rows per transaction (default 2000).")
        parser.add_argument("--show-issues", type=int, default=20, help="How many rejected rows to list (default 20).")

    def build_spec(self, options) -> ImportSpec:
        raise NotImplementedError

    def handle(self, *args, **options):
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be a positive number of rows")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive")
        try:
            spec = self.build_spec(options)
            run = run_import(
                spec,
                limit=options["limit"],
                workers=options["workers"],
                batch_size=options["batch_size"],
                progress=options["verbosity"] > 0,
            )
        except DatasetError as exc:
            raise CommandError(str(exc)) from None
        self.report(run, options["show_issues"])
        return None

    def report(self, run, show: int) -> None:
        self.stdout.write(self.style.SUCCESS(f"{run.importer} (run {run.pk}): {run.summary()}"))
        rejected = [i for i in run.issues if i["level"] == "rejected"]
        warnings = [i for i in run.issues if i["level"] == "warning"]
        for issue in rejected[:show]:
            self.stdout.write(f"  rejected row {issue['row']} {issue['id']}: {issue['reason']}")
        if len(rejected) > show:
            self.stdout.write(f"  ... and {len(rejected) - show} more rejected rows (see the import run in the admin)")
        if warnings:
            reasons: dict[str, int] = {}
            for issue in warnings:
                key = issue["reason"].split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
            for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
                self.stdout.write(f"  warning x{count}: {reason}")
