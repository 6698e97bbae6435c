"""GNoME scale: the portal, the APIs and the hull with ~530,000 synthetic materials beside the real data.

    createdb -U postgres -h 127.0.0.1 gnome_scale
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gnome_scale .venv/bin/python -u benchmarks/scale.py \\
        [--n 530000] [--skip-load] [--skip-hull] [--clients 50] [--seconds 60] [--only api,optimade,explorer,load]

Runs only when asked (never in CI; the test suite loads a 20k slice). On a database of its own, it:

1. loads the real data if it is not there (import_references, import_gnome, import_mp_hull; timed apart);
2. ``make_scale_dataset --n N`` (COPY; target under 15 minutes on 2 cores), timed;
3. ``recompute_hull`` of each hull set, timed, with the peak memory of its process tree (target under 10
   minutes for the full recompute);
4. the 20-query API mix and the OPTIMADE filters of benchmarks/api.py (p50/p95; target p95 under 150 ms);
5. the explorer in a real browser, benchmarks/explorer.py (first render, filter change p95; target under 1 s);
6. a load test: gunicorn (2 workers x 4 threads) on loopback, locust with ``--clients`` users for
   ``--seconds`` seconds (benchmarks/loadfile.py: API, OPTIMADE and explorer requests); requests/s, p50,
   p99 and errors (target: 0 errors).

Every figure is printed as it is measured. The load test needs locust: ``.venv/bin/pip install -r
benchmarks/requirements.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent


def _tree_mb(root: psutil.Process) -> float:
    """Memory of a process and its children: the sum of their proportional set sizes (forked workers share
    the parent's pages copy-on-write; summing RSS would count those pages once per process)."""
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_full_info().pss
        except psutil.Error:
            pass
    return total / 2**20


def run(args: list[str], label: str, env: dict | None = None) -> tuple[float, float]:
    """Run a command to completion; (seconds, peak MB of its whole process tree, sampled every second: reading
    the proportional set sizes of three 1.5 GB processes takes ~90 ms of CPU)."""
    start = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, env=env or os.environ.copy())
    peak = 0.0
    root = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            peak = max(peak, _tree_mb(root))
        except psutil.Error:
            pass
        time.sleep(1.0)
    seconds = time.perf_counter() - start
    if process.returncode:
        raise SystemExit(f"{label} failed with exit code {process.returncode}")
    print(f"{label}: {seconds:.1f} s, peak memory {peak:.0f} MB (process tree, proportional set size)", flush=True)
    return seconds, peak


def manage(*args: str) -> list[str]:
    return [PYTHON, "manage.py", *args]


def counts() -> dict[str, int]:
    out = subprocess.run(manage("shell", "-c", "import json; from django.db.models import Count; from materials.models "
                                "import Material; print(json.dumps(dict(Material.objects.values_list('source')"
                                ".annotate(n=Count('id')))))"),
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_test(clients: int, seconds: int) -> None:
    from load import run as run_load  # benchmarks/load.py: the same gunicorn + locust run on any catalogue

    run_load(clients, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=530_000)
    parser.add_argument("--skip-load", action="store_true", help="Keep the scale rows already loaded.")
    parser.add_argument("--skip-hull", action="store_true", help="Keep the stored hulls.")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--only", default="api,optimade,explorer,load", help="Which measurements after the load.")
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ or "scale" not in os.environ["DATABASE_URL"]:
        raise SystemExit("set DATABASE_URL to a database of its own whose name contains 'scale'")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")

    run(manage("migrate", "-v0"), "migrate")
    found = counts()
    if found.get("gnome", 0) < 30_000 or found.get("mp", 0) < 30_000:
        run(manage("import_references", "-v0"), "import_references")
        run(manage("import_gnome", "-v0"), "import_gnome (the real sample)")
        run(manage("import_mp_hull", "-v0"), "import_mp_hull (the real snapshot)")
    if not args.skip_load:
        seconds, _ = run(manage("make_scale_dataset", "--n", str(args.n)), f"make_scale_dataset --n {args.n}")
        print(f"  load: {args.n / seconds:.0f} materials/s (target: {args.n} in under 900 s)")
    found = counts()
    print(f"catalogue: {sum(found.values())} materials {found}", flush=True)
    if not args.skip_hull:
        for hull in ("all", "mp"):
            run(manage("recompute_hull", "--hull", hull, "-v0"), f"recompute_hull --hull {hull} (full)")
    only = set(args.only.split(","))
    if {"api", "optimade"} & only:
        subprocess.run([PYTHON, "-u", "benchmarks/api.py", "--repeats", "20"], cwd=ROOT, check=True)
    if "explorer" in only:
        subprocess.run([PYTHON, "-u", "benchmarks/explorer.py", "--repeats", "5"], cwd=ROOT, check=True)
    if "load" in only:
        load_test(args.clients, args.seconds)


if __name__ == "__main__":
    main()
