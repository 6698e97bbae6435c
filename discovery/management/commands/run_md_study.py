"""Start an MD study of Li-ion conductivity over chosen materials (Celery workers, or here with --inline)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from discovery import conductivity


class Command(BaseCommand):
    help = ("Molecular dynamics with a universal potential (CHGNet 0.3.0 by default) of Li-containing crystals: "
            "diffusivity, conductivity and the superionic verdict, stored per material.")

    def add_arguments(self, parser):
        parser.add_argument("material_ids", nargs="+")
        parser.add_argument("--temperatures", default="1000", help="K, comma-separated (default 1000).")
        parser.add_argument("--potential", choices=["chgnet", "sevennet"], default="chgnet")
        parser.add_argument("--ramp-ps", type=float, default=1.0)
        parser.add_argument("--equilibration-ps", type=float, default=2.0)
        parser.add_argument("--production-ps", type=float, default=10.0)
        parser.add_argument("--min-atoms", type=int, default=100)
        parser.add_argument("--name", default="")
        parser.add_argument("--inline", action="store_true", help="Run here, one run after another.")

    def handle(self, *args, **options):
        try:
            temperatures = [float(t) for t in options["temperatures"].split(",") if t.strip()]
            study = conductivity.create_study(
                options["material_ids"], temperatures, name=options["name"], user="manage.py",
                potential=options["potential"], ramp_ps=options["ramp_ps"],
                equilibration_ps=options["equilibration_ps"], production_ps=options["production_ps"],
                min_atoms=options["min_atoms"])
        except (ValueError, conductivity.StudyError) as exc:
            raise CommandError(str(exc)) from None
        if not options["inline"]:
            from discovery import tasks

            tasks.start_md_study.delay(study.pk)
            self.stdout.write(self.style.SUCCESS(f"MD study {study.pk} queued: {study.runs.count()} runs"))
            return
        for run in study.runs.select_related("material"):
            with tqdm(total=run.total_steps, desc=f"{run.material_id} {run.temperature_k:.0f} K", unit="step",
                      disable=options["verbosity"] == 0):
                done = conductivity.run(run.pk)
            r = done.result
            self.stdout.write(f"{done.material.material_id} {done.material.formula_reduced} {done.temperature_k:.0f} K: "
                              f"D(Li) {r['diffusivity_cm2_s']:.2e} cm2/s, sigma {r['conductivity_ms_cm']:.3g} mS/cm")
        self.stdout.write(self.style.SUCCESS(
            f"MD study {study.pk} done ({conductivity.method_label(options['potential'])})"))
