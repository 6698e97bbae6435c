"""The evaluators side by side: CHGNet 0.3.0, SevenNet-0 and SevenNet-l3i5 relax the same unrelaxed candidates
(held-out evaluated candidates of the shipped file), one after the other for each candidate, so that the
machine's drift falls on all of them alike. No database.

    .venv/bin/python -u benchmarks/evaluators.py [--n 30] [--split test] [--evaluators chgnet,sevennet,sevennet-l3i5]

Prints, per evaluator: seconds per candidate (median and mean), FIRE steps (median), unconverged relaxations;
then, for each pair, the mean and median absolute difference of the relaxed formation energies and how often they agree on
"stable" (on or below the hull the shipped record was judged against: the hull's energy at the candidate's
composition is the record's formation energy minus its energy above the hull, the candidate itself left out).
As a check, CHGNet's formation energies are compared with the shipped ones it made before (same relaxation).
Every energy here is a machine-learned potential's, not DFT; MP2020 corrections are applied to SevenNet's raw
energies as the evaluators do.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("GNOME_DATA_DIR") or ROOT.parent / "shared" / "data")  # as the settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=30, help="Candidates (a seeded random sample of the split).")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--evaluators", default="chgnet,sevennet,sevennet-l3i5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--file", type=Path, default=ROOT / "discovery" / "data" / "evaluated_candidates.jsonl.gz")
    args = parser.parse_args()

    from discovery.evaluation import evaluator_named
    from discovery.evaluation.base import quiet_relaxation
    from discovery.gnn.data import read_evaluated, structure_of
    from hullapi.engine import is_stable_energy
    from materials.readers import ELEMENTAL_REFERENCES, reference_energies
    from materials.science import formation_from_energy

    refs = reference_energies(DATA / ELEMENTAL_REFERENCES)
    records = [r for r in read_evaluated(args.file, splits=(args.split,)) if r["e_above_hull_ev_per_atom"] is not None]
    records = random.Random(args.seed).sample(records, min(args.n, len(records)))
    names = [n.strip() for n in args.evaluators.split(",") if n.strip()]
    evaluators = {n: evaluator_named(n, fmax=0.05, max_steps=300) for n in names}
    sites = statistics.median(len(structure_of(r["structure"])) for r in records)
    print(f"{len(records)} {args.split} candidates (seed {args.seed}), {sites:.0f} sites median; FIRE fmax 0.05 eV/Å, "
          f"<= 300 steps, cell + positions; {os.cpu_count()} CPU cores")

    # load each model and take a few steps outside the timing (one-off costs per process)
    warm = structure_of(records[0]["structure"])
    for name, ev in evaluators.items():
        started = time.perf_counter()
        with quiet_relaxation():
            evaluator_named(name, fmax=0.05, max_steps=3).evaluate(warm)
        print(f"  {ev.label}: model loaded and warmed up in {time.perf_counter() - started:.1f} s")

    results: dict[str, list[dict]] = {n: [] for n in names}
    for i, r in enumerate(records):
        structure = structure_of(r["structure"])
        hull_e = r["e_form_ev_per_atom"] - r["e_above_hull_ev_per_atom"]
        for n, ev in evaluators.items():
            started = time.perf_counter()
            with quiet_relaxation():
                e = ev.evaluate(structure)
            seconds = time.perf_counter() - started
            e_form = formation_from_energy(e.energy_ev, e.structure.composition, refs)
            results[n].append({"seconds": seconds, "steps": e.steps, "converged": e.converged, "e_form": e_form,
                               "e_above": e_form - hull_e, "shipped": r["e_form_ev_per_atom"]})
        print(f"  {i + 1}/{len(records)} {r['formula_reduced']}: "
              + ", ".join(f"{evaluators[n].label} {results[n][-1]['e_form']:+.3f} eV/atom "
                          f"({results[n][-1]['seconds']:.1f} s)" for n in names), flush=True)

    print("\nper evaluator (seconds are wall time on this machine, each relaxation alone):")
    for n in names:
        rows = results[n]
        secs = [x["seconds"] for x in rows]
        stable = sum(is_stable_energy(x["e_above"]) for x in rows)
        print(f"  {evaluators[n].label:14s} median {statistics.median(secs):6.2f} s, mean {statistics.mean(secs):6.2f} s "
              f"per candidate; median {statistics.median(x['steps'] for x in rows):.0f} steps; "
              f"{sum(not x['converged'] for x in rows)} unconverged; {stable} stable")
    base = names[0]
    base_seconds = statistics.median(x["seconds"] for x in results[base])
    for n in names[1:]:
        print(f"  {evaluators[n].label} / {evaluators[base].label} time (medians): "
              f"{statistics.median(x['seconds'] for x in results[n]) / base_seconds:.2f}x")
    if "chgnet" in results:
        diff = [abs(x["e_form"] - x["shipped"]) for x in results["chgnet"]]
        print(f"check: CHGNet now against the shipped CHGNet labels: max |difference| {max(diff):.4f} eV/atom")
    print("\nagreement (pairs):")
    for a, b in itertools.combinations(names, 2):
        xa, xb = results[a], results[b]
        deltas = [abs(p["e_form"] - q["e_form"]) for p, q in zip(xa, xb, strict=True)]
        bias = statistics.mean(q["e_form"] - p["e_form"] for p, q in zip(xa, xb, strict=True))
        same = sum(is_stable_energy(p["e_above"]) == is_stable_energy(q["e_above"]) for p, q in zip(xa, xb, strict=True))
        print(f"  {evaluators[a].label} vs {evaluators[b].label}: |Δ e_form| mean {statistics.mean(deltas):.4f}, "
              f"median {statistics.median(deltas):.4f} eV/atom, "
              f"mean Δ ({evaluators[b].label} - {evaluators[a].label}) {bias:+.4f}; same stable/unstable call "
              f"{same}/{len(xa)}")


if __name__ == "__main__":
    main()
