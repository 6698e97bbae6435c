"""A real discovery round on the catalogue (the database DATABASE_URL points at, with the sample and the MP
snapshot imported and the hulls computed), run in this process as `manage.py run_round` runs it.

    DATABASE_URL=postgres://... .venv/bin/python benchmarks/round.py [--chemsys Li-Co-O ...] [--candidates 10000]
        [--evaluate 50] [--control 0.1] [--max-steps 200]

Prints wall time per stage, screening candidates/s, hit rate, prevalence and the discovery acceleration factor
(hit rate / prevalence; target above 2). Energies of the evaluated candidates come from the evaluator (CHGNet
0.3.0 by default: a machine-learned potential, not DFT).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LI_SYSTEMS = ["Co-Li-O", "Li-Mn-O", "Li-S-Ti", "Li-Se-Ti", "Li-O-V", "Li-Ni-O", "Cu-Li-O", "Li-O-Rh", "Li-S-V",
              "Cr-Li-Te", "Li-Mn-Se", "Li-O-Pt", "Li-O-Os"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chemsys", action="append", default=None, help="Seed systems (default: Li ternaries).")
    parser.add_argument("--candidates", type=int, default=10000)
    parser.add_argument("--evaluate", type=int, default=50)
    parser.add_argument("--control", type=float, default=0.1)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--max-seeds", type=int, default=60)
    parser.add_argument("--ensemble", type=Path, action="append", default=[],
                        help="Screen with this ensemble (a directory of member-*.pt); repeat to compare ensembles "
                             "side by side on the same candidates (same seeds, budgets and random seed).")
    parser.add_argument("--random-seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    import django

    django.setup()
    import torch

    from discovery import rounds

    torch.set_num_threads(2)
    from discovery.models import ModelCheckpoint

    config = {"chemsys": args.chemsys or LI_SYSTEMS, "candidate_budget": args.candidates,
              "evaluation_budget": args.evaluate, "control_fraction": args.control, "max_steps": args.max_steps,
              "max_seeds": args.max_seeds, "random_seed": args.random_seed}
    made = []
    for directory in args.ensemble or [None]:
        rnd = rounds.create_round(config, name=f"benchmark {directory.name if directory else ''}".strip(),
                                  user="benchmarks/round.py")
        if directory is not None:
            checkpoint = ModelCheckpoint.objects.create(
                name=f"benchmark: {directory.name}", path=str(directory.resolve()), status="succeeded",
                architecture={"kind": "structure"}, progress="registered by benchmarks/round.py (not active)")
            rnd.checkpoint = checkpoint
            rnd.save(update_fields=["checkpoint"])
        made.append(rnd)
    # every round generates, screens and selects before any ingests, so that they all see the same catalogue
    # and so the same candidates; the later ones are then judged on a hull that holds the earlier ones' results
    walls = {}
    for rnd in made:
        started = time.perf_counter()
        rounds.generate(rnd.pk)
        rounds.finish_screening(rnd.pk, _screen(rounds, rnd.pk))
        rounds.select(rnd.pk)
        walls[rnd.pk] = time.perf_counter() - started
    for rnd in made:
        started = time.perf_counter()
        rnd = rounds.run_inline(rnd.pk)
        report(rnd, walls[rnd.pk] + time.perf_counter() - started, args.ensemble and rnd.checkpoint.path)


def _screen(rounds, round_id: int) -> float:
    started = time.perf_counter()
    for chunk in rounds.screen_chunks(round_id):
        rounds.screen(round_id, chunk)
    return time.perf_counter() - started


def report(rnd, wall: float, ensemble) -> None:
    if ensemble:
        print(f"== screened with {Path(ensemble).relative_to(ROOT) if Path(ensemble).is_relative_to(ROOT) else ensemble}")
    c, m, t = rnd.counts, rnd.metrics, rnd.timings
    print(f"round {rnd.pk}: {rnd.status} in {wall:.0f} s; seeds {c.get('seeds')} ({c.get('seeds_skipped')} without "
          f"oxidation states), generated {c['generated']} {c.get('by_method')}, below threshold {c['below_threshold']}, "
          f"evaluated {c['evaluated']} ({c['selected']} selected + {c['control']} control, {c['evaluation_failed']} failed)")
    print("wall time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items() if not k.startswith("_")))
    print(f"screening: {c['generated'] / t['screened']:.1f} candidates/s (GNN ensemble, 20 volumes x members)")

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.1f}%"

    from discovery.screening import wilson

    def ci(k, n):
        interval = wilson(k, n)
        return "" if interval is None else f", 95% {100 * interval[0]:.0f}-{100 * interval[1]:.0f}%"

    print(f"passed the filter: {c['below_threshold']} of {c['screened']} screened "
          f"({pct(c['below_threshold'] / c['screened'] if c['screened'] else None)})")
    print(f"hit rate {pct(m['hit_rate'])} ({m['stable_filtered']}/{m['evaluated_filtered']}"
          f"{ci(m['stable_filtered'], m['evaluated_filtered'])}), prevalence "
          f"{pct(m['prevalence'])} ({m['stable_control']}/{m['evaluated_control']}"
          f"{ci(m['stable_control'], m['evaluated_control'])}), DAF "
          f"{'n/a (no stable control)' if m['daf'] is None else format(m['daf'], '.2f')}; ensemble MAE on the evaluated "
          f"structures {m['ensemble_mae_ev_per_atom']:.3f} eV/atom (vs the evaluator)")
    h = m.get("complete_hulls")
    if h:
        print(f"complete binary hulls only: hit rate {pct(h['hit_rate'])} ({h['stable_filtered']}/"
              f"{h['evaluated_filtered']}{ci(h['stable_filtered'], h['evaluated_filtered'])}), prevalence "
              f"{pct(h['prevalence'])} ({h['stable_control']}/{h['evaluated_control']}"
              f"{ci(h['stable_control'], h['evaluated_control'])})")
    print("new stable (on the 'all' hull, by the evaluator's energy): " + (", ".join(
        f"{x['formula']} ({'complete' if (x.get('hull_completeness') or {}).get('complete') else 'incomplete'} binary hulls)"
        for x in m["new_stable"]) or "none"))


if __name__ == "__main__":
    main()
