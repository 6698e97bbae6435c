"""Make the synthetic scale-test catalogue: element substitutions of the stored GNoME sample, loaded with COPY."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from materials import scale_load


class Command(BaseCommand):
    help = ("Derive N synthetic materials from the stored GNoME crystals (one or two elements substituted; "
            "source 'scale', never real data) and load them with PostgreSQL COPY in one transaction. For load "
            "tests on a database of their own; run recompute_hull afterwards.")

    def add_arguments(self, parser):
        parser.add_argument("--n", type=int, required=True, help="Number of synthetic materials (e.g. 530000).")
        parser.add_argument("--seed", type=int, default=0, help="Seed of the energy noise (default 0).")
        parser.add_argument("--workers", type=int, default=None, help="Worker processes (default: one per core).")

    def handle(self, *args, **options):
        bar = tqdm(total=options["n"], unit="materials", disable=options["verbosity"] == 0)
        try:
            run = scale_load.load(options["n"], seed=options["seed"], workers=options["workers"], progress=bar.update)
        except scale_load.ScaleError as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        if run.unchanged:
            self.stdout.write(self.style.SUCCESS(
                f"{run.importer} (run {run.pk}): {run.unchanged} scale materials already loaded with these settings; "
                "nothing changed"))
            return
        seconds = (run.finished_at - run.started_at).total_seconds()
        replaced = run.options.get("replaced") or 0
        self.stdout.write(self.style.SUCCESS(
            f"{run.importer} (run {run.pk}): {run.inserted} synthetic materials from {run.options['parents']} GNoME "
            f"parents in {seconds:.1f} s ({run.inserted / max(seconds, 1e-9):.0f}/s)"
            + (f"; replaced {replaced} earlier scale materials" if replaced else "")))
