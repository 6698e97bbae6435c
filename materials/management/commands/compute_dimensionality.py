"""Cheon dimensionality (tolerance 0.45 Å, as GNoME) of every material with a structure; '2D' = layered."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from materials.services import compute_dimensionality


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Recompute materials that already have one.")
        parser.add_argument("--ids", nargs="+", default=None, help="Only these material ids.")
        parser.add_argument("--workers", type=int, default=None, help="Worker processes (default: one per core).")

    def handle(self, *args, **options):
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1")
        counts = compute_dimensionality(only_missing=not options["all"], ids=options["ids"],
                                        workers=options["workers"], progress=options["verbosity"] > 0)
        total = sum(counts.values())
        summary = ", ".join(f"{label} {n}" for label, n in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"dimensionality of {total} structures: {summary}")
