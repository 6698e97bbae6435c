"""Screens on the full sample: Cheon dimensionality of every structure, and re-running the Li-ion funnel.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gnome_bench .venv/bin/python benchmarks/screens.py [--skip-batch]

Needs a database holding the full sample with both hulls (see benchmarks/api.py). Targets: dimensionality
of the whole sample under 10 minutes on 2 cores; a re-run of the Li-ion funnel with changed thresholds
under 5 s. Baseline in the same run: pymatgen's own get_dimensionality_cheon on a slice of structures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=int, default=30, help="Structures for the pymatgen comparison.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-batch", action="store_true", help="Do not recompute the whole sample.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    import django

    django.setup()
    from pymatgen.analysis.dimensionality import get_dimensionality_cheon

    from hullapi import screening
    from hullapi.models import ElectrochemicalWindow
    from materials.dimensionality import cheon_dimensionality
    from materials.importing import worker_count
    from materials.models import Material
    from materials.services import compute_dimensionality

    warnings.filterwarnings("ignore")
    crystals = Material.objects.filter(structure__isnull=False).order_by("material_id")
    print(f"{crystals.count()} structures, {worker_count()} workers")

    structures = [m.get_structure() for m in crystals[: args.baseline]]
    start = time.perf_counter()
    reference = [get_dimensionality_cheon(s, tolerance=0.45) for s in structures]
    t_ref = time.perf_counter() - start
    start = time.perf_counter()
    ours = [cheon_dimensionality(s) for s in structures]
    t_ours = time.perf_counter() - start
    same = sum(a == b for a, b in zip(reference, ours, strict=True))
    print(f"dimensionality of {len(structures)} structures, one process: pymatgen {t_ref:.1f} s, ours {t_ours:.2f} s "
          f"({t_ref / t_ours:.0f}x), identical labels {same}/{len(structures)}")

    if not args.skip_batch:
        start = time.perf_counter()
        counts = compute_dimensionality(only_missing=False, progress=False)
        elapsed = time.perf_counter() - start
        print(f"whole sample: {sum(counts.values())} structures in {elapsed:.1f} s ({elapsed / 60:.1f} min; target "
              f"< 10 min): {dict(sorted(counts.items()))}")

    ElectrochemicalWindow.objects.all().delete()
    start = time.perf_counter()
    run = screening.run_screen("li_conductor")
    print(f"li_conductor, first run (computes {ElectrochemicalWindow.objects.count()} windows): "
          f"{time.perf_counter() - start:.1f} s; candidates+unknown {run.stages[-1]['output']}")
    for params in ({"min_li_fraction": "0.3"}, {"max_reduction_v": "0.5", "min_oxidation_v": "3.0"},
                   {"exclude_f_block": "true", "max_e_above_hull": "0.025"}):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            run = screening.run_screen("li_conductor", params)
            times.append(time.perf_counter() - start)
        print(f"li_conductor re-run {params}: median {statistics.median(times):.2f} s (max {max(times):.2f}; target "
              f"< 5 s); stages {[s['output'] for s in run.stages]}")
    screening.run_screen("li_conductor")  # leave the default run as the latest


if __name__ == "__main__":
    main()
