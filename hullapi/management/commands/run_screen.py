"""Run a screen over the catalogue and store its stage counts: li_conductor, layered or li_mn_oxides.

    manage.py run_screen li_conductor --set min_li_fraction=0.3 --set max_reduction_v=0.5
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from hullapi.screening import ScreenError, run_screen
from materials.screens import SCREENS


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("screen", choices=sorted(SCREENS))
        parser.add_argument("--set", action="append", default=[], metavar="CRITERION=VALUE",
                            help="Change a criterion (repeatable), e.g. min_li_fraction=0.3")

    def handle(self, *args, **options):
        params = {}
        for item in options["set"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--set {item!r}: write CRITERION=VALUE")
            params[name.strip()] = value.strip()
        try:
            run = run_screen(options["screen"], params)
        except ScreenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{run.screen} run #{run.pk} on hull version {run.hull_version} ({run.seconds:.1f} s)")
        for stage in run.stages:
            self.stdout.write(f"  {stage['name']:24s} in {stage['input']:6d}  passed {stage['passed']:6d}  "
                              f"failed {stage['failed']:6d}  unknown {stage['unknown']:6d}  -> {stage['output']}")
        s = run.summary
        self.stdout.write(f"candidates {s['candidates']} {s['candidates_by_source']}; passed with unknowns "
                          f"{s['passed_with_unknowns']} {s['passed_with_unknowns_by_source']}")
