"""Structure fingerprints (similar materials) of every material with a structure; only missing or outdated ones
unless --all."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from materials.fingerprint import FINGERPRINT_VERSION
from materials.services import compute_fingerprints


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Recompute fingerprints that are already current.")
        parser.add_argument("--ids", nargs="+", default=None, help="Only these material ids.")
        parser.add_argument("--workers", type=int, default=None, help="Worker processes (default: one per core).")

    def handle(self, *args, **options):
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        summary = compute_fingerprints(only_missing=not options["all"], ids=options["ids"],
                                       workers=options["workers"], progress=options["verbosity"] > 0)
        self.stdout.write(f"fingerprints ({FINGERPRINT_VERSION}): {summary['computed']} computed, "
                          f"{summary['failed']} failed")
        for material_id, reason in summary["failures"]:
            self.stdout.write(f"  {material_id}: {reason}")
