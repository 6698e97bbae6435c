"""Latency of POST /api/v1/predict/ for a 100-atom cell: p50/p95, each the median over rounds of repeats.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gnome_bench .venv/bin/python benchmarks/predict.py \
        [--rounds 5] [--repeats 20] [--sites 100]

Runs in-process through Django's test client (what is measured is the application and the database: parsing, the
ensemble, both hulls, the catalogue match and the fingerprint search), against a database holding the full sample
with both hulls and the fingerprints computed. The crystal is a 100-site sample crystal, its sites moved by up to
0.05 Å (a hypothetical crystal, not a stored one), sent as CIF. Measured twice: as served (the screening ensemble's
TTA setting) and with test-time augmentation forced on (20 volumes per member), to show what TTA would cost.
Target (issue 22): p95 under 1 s. Also prints the cold first request, the latency with torch on its default
thread count instead of GNOME_PREDICT_THREADS (1), and where the time of one answer goes.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_P95_S = 1.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def crystal(sites: int):
    """A sample crystal of exactly ``sites`` sites, perturbed (seeded), and its id."""
    from django.conf import settings
    from pymatgen.core import Structure

    with gzip.open(Path(settings.GNOME_DATA_DIR) / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            if row["nsites"] == sites:
                return Structure.from_str(row["cif"], fmt="cif").perturb(0.05, seed=22), row["material_id"]
    raise SystemExit(f"no sample crystal of {sites} sites")


def timed_rounds(client, body: dict, rounds: int, repeats: int) -> tuple[float, float, list[float]]:
    p50s, p95s, everything = [], [], []
    for _ in range(rounds):
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            response = client.post("/api/v1/predict/", body, content_type="application/json")
            seconds.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"predict answered {response.status_code}: {response.content[:300]!r}")
        p50s.append(percentile(seconds, 50))
        p95s.append(percentile(seconds, 95))
        everything += seconds
    return statistics.median(p50s), statistics.median(p95s), everything


def breakdown(structure) -> dict[str, float]:
    """Seconds of each part of one warm answer."""
    from django.conf import settings

    from discovery import predicting
    from discovery.gnn.predict import predict_structures
    from materials.importing import references
    from materials.similarity import similar_to_structure

    text = structure.to(fmt="cif")
    parts = {}
    started = time.perf_counter()
    parsed = predicting.parse_input(text, "cif")
    parts["parse CIF + checks"] = time.perf_counter() - started
    ensemble = predicting.screening_ensemble()
    started = time.perf_counter()
    with predicting.torch_threads(settings.GNOME_PREDICT_THREADS):
        [prediction] = predict_structures(ensemble.models, [structure], volumes=ensemble.volumes,
                                          fidelity=ensemble.fidelity)
    parts[f"ensemble (graph + 4 members, {settings.GNOME_PREDICT_THREADS} thread)"] = time.perf_counter() - started
    refs = references()
    started = time.perf_counter()
    for hull in predicting.HULL_SETS:
        predicting.hull_placement(parsed.structure.composition, prediction.e_form_ev_per_atom, hull, refs)
    parts["both hulls"] = time.perf_counter() - started
    started = time.perf_counter()
    predicting.known_matches(parsed.structure)
    parts["catalogue match (StructureMatcher)"] = time.perf_counter() - started
    started = time.perf_counter()
    similar_to_structure(parsed.structure, k=5)
    parts["similar (fingerprint search)"] = time.perf_counter() - started
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sites", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    os.environ["API_PREDICT_RATE"] = "100000000/min"
    import django

    django.setup()
    import torch
    from django.test import Client

    from discovery import predicting
    from discovery.gnn.featurize import TTA_VOLUMES
    from materials.models import Material

    structure, source_id = crystal(args.sites)
    body = {"structure": structure.to(fmt="cif"), "format": "cif"}
    client = Client(HTTP_HOST="127.0.0.1")
    print(f"{Material.objects.count():,} materials; crystal: {structure.composition.reduced_formula}, "
          f"{len(structure)} sites (sample {source_id}, perturbed 0.05 Å); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} (the cores "
          "are shared)")
    started = time.perf_counter()
    first = client.post("/api/v1/predict/", body, content_type="application/json")
    print(f"cold first request: {time.perf_counter() - started:.2f} s (ensemble loaded, hull indexes and fingerprint "
          f"matrix built); status {first.status_code}")
    answer = first.json()["data"]
    served = predicting.screening_ensemble()
    print(f"answer: e_form {answer['prediction']['e_form_ev_per_atom']:.4f} eV/atom (IQR "
          f"{answer['prediction']['iqr_ev_per_atom']:.4f}), above hull all/mp "
          f"{answer['stability']['all']['e_above_hull_ev_per_atom'] * 1000:.1f}/"
          f"{answer['stability']['mp']['e_above_hull_ev_per_atom'] * 1000:.1f} meV/atom, known "
          f"{[m['material_id'] for m in answer['known']['matches']]}, nearest {answer['similar'][0]['material_id']}")
    modes = [("as served", served), ("TTA forced on", dataclasses.replace(served, volumes=TTA_VOLUMES))]
    if served.tta:
        modes[1] = ("TTA forced off", dataclasses.replace(served, volumes=None))
    key = next(k for k, v in predicting._ensembles.items() if v is served)
    results = {}
    for label, ensemble in modes:
        predicting._ensembles[key] = ensemble
        client.post("/api/v1/predict/", body, content_type="application/json")  # warm this mode
        p50, p95, _ = timed_rounds(client, body, args.rounds, args.repeats)
        results[label] = (p50, p95)
        verdict = "meets" if p95 < TARGET_P95_S else "misses"
        print(f"{label:15} (TTA {'on, 20 volumes' if ensemble.tta else 'off'}): p50 {p50 * 1000:7.1f} ms   "
              f"p95 {p95 * 1000:7.1f} ms   ({args.rounds} rounds of {args.repeats}; median of the rounds' "
              f"percentiles) -> {verdict} the p95 < {TARGET_P95_S:.0f} s target")
    predicting._ensembles[key] = served
    from django.test import override_settings

    with override_settings(GNOME_PREDICT_THREADS=0):  # torch's default: one thread per core
        p50, p95, _ = timed_rounds(client, body, 1, 10)
    print(f"{'torch default threads':15} ({torch.get_num_threads()} threads, TTA as served): p50 {p50 * 1000:7.1f} ms   "
          f"p95 {p95 * 1000:7.1f} ms   (1 round of 10; what GNOME_PREDICT_THREADS=1 avoids)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}; one warm answer, by part (as served):")
    for part, seconds in breakdown(structure).items():
        print(f"  {part:36} {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
