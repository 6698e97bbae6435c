"""Bounded load test on loopback: 50 concurrent clients for 60 s against gunicorn + PostgreSQL, a mix of REST
API, OPTIMADE and explorer requests (benchmarks/loadfile.py), on the catalogue DATABASE_URL holds.

    .venv/bin/pip install -r benchmarks/requirements.txt
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gnome .venv/bin/python -u benchmarks/load.py \\
        [--clients 50] [--seconds 60] [--workers 2] [--threads 4]

Production settings (DEBUG off, a secret key), with the anonymous throttle lifted: every locust user comes
from 127.0.0.1, which the real throttle would hold to its per-address rate. Prints requests/s, p50, p99 and
errors per request type and in total (target: 0 errors, p99 under 1 s), and the server's CPU seconds.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--port", default="8766")
    args = parser.parse_args()
    run(args.clients, args.seconds, workers=args.workers, threads=args.threads, port=args.port)


def run(clients: int, seconds: int, *, workers: int = 2, threads: int = 4, port: str = "8766") -> None:
    """Serve the catalogue DATABASE_URL holds with gunicorn, load it with locust, print the figures."""
    if not (BIN / "locust").exists():
        raise SystemExit("locust is missing: .venv/bin/pip install -r benchmarks/requirements.txt")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("set DATABASE_URL to the PostgreSQL catalogue to serve")
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "load-benchmark-only-" + "k" * 40, "ALLOWED_HOSTS": "127.0.0.1",
           "API_ANON_RATE": "100000000/min", "SECURE_SSL_REDIRECT": "false"}
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(BIN / "gunicorn"), "gnome_site.wsgi:application", "--bind", f"127.0.0.1:{port}",
                               "--workers", str(workers), "--threads", str(threads), "--log-level", "warning"],
                              cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v1/materials/?_per_page=1", timeout=30) as response:
                    total = response.read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(1)
        import json

        print(f"catalogue: {json.loads(total)['meta']['total_doc']} materials; gunicorn {workers} workers x "
              f"{threads} threads, DEBUG off; locust {clients} users, no think time, {seconds} s",
              flush=True)
        cpu_before = _cpu(server.pid)
        prefix = ROOT / "var" / "load"
        prefix.parent.mkdir(exist_ok=True)
        subprocess.run([str(BIN / "locust"), "-f", "benchmarks/loadfile.py", "--headless", "-u", str(clients),
                        "-r", str(clients), "-t", f"{seconds}s", "--host", base, "--csv", str(prefix),
                        "--only-summary", "--loglevel", "WARNING"], cwd=ROOT, env=env, check=False,
                       stdout=subprocess.DEVNULL)
        cpu = _cpu(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        print(f"  {row['Name']:24s} {float(row['Requests/s']):7.1f} req/s  p50 {row['50%']:>6} ms  "
              f"p99 {row['99%']:>6} ms  errors {row['Failure Count']} of {row['Request Count']}")
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        for row in list(csv.DictReader(failures.open()))[:10]:
            print(f"  failure: {row['Name']}: {row['Error']} x{row['Occurrences']}")
    aggregated = next(r for r in rows if r["Name"] == "Aggregated")
    print(f"server CPU: {cpu:.0f} s over {seconds} s ({cpu / max(int(aggregated['Request Count']), 1) * 1000:.0f} ms "
          "per request)")


def _cpu(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


if __name__ == "__main__":
    main()
