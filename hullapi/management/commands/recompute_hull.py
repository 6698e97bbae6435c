from __future__ import annotations

from functools import partial

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hullapi import services
from hullapi.models import HULL_SET_SOURCES


class Command(BaseCommand):
    help = (
        "Recompute the stability of the catalogue against the hull sets ('all': every known phase; 'mp': "
        "Materials Project phases only). With --chemsys, only the systems whose hull those can change."
    )

    def add_arguments(self, parser):
        parser.add_argument("--hull", choices=[*HULL_SET_SOURCES, "both"], default="both")
        parser.add_argument(
            "--chemsys", action="append", default=[], help="Recompute only what entries of this system affect (repeatable)."
        )

    def handle(self, *args, **options):
        hull_sets = list(HULL_SET_SOURCES) if options["hull"] == "both" else [options["hull"]]
        for hull_set in hull_sets:
            bar = tqdm(desc=f"hull {hull_set}", unit="system", disable=options["verbosity"] == 0, mininterval=1.0)
            try:
                run = services.recompute(hull_set, options["chemsys"] or None, progress=partial(_advance, bar))
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            finally:
                bar.close()
            self.stdout.write(self.style.SUCCESS(
                f"hull {hull_set} v{run.pk}: {run.entries} materials in {run.systems} systems, {run.stable} stable, "
                f"{run.not_placed} not placed, {run.disagreements} disagree with published values "
                f"by more than 25 meV/atom ({run.seconds:.1f} s)"
            ))


def _advance(bar: tqdm, done: int, total: int) -> None:
    bar.total = total
    bar.update(done - bar.n)
