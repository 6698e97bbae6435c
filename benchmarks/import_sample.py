"""Full import of the real sample on PostgreSQL: prints seconds and rows/s per importer.

    .venv/bin/python benchmarks/import_sample.py [--database-url postgres://postgres@127.0.0.1:5432/gnome_bench]
        [--workers N] [--parser-rows 1000]

Creates (drops first) the named database, migrates it, imports the elemental references, the
30,661 GNoME sample rows and the 31,840 Materials Project snapshot rows, then imports both again
(idempotent re-run: every row unchanged). Also times the fast P1 CIF path against pymatgen's
CifParser on the same rows in the same run. Target: the whole first import in under 3 minutes on
2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from itertools import islice
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def time_parsers(rows: int) -> None:
    from django.conf import settings
    from pymatgen.core import Structure

    from materials import readers, science

    texts = [r["structure_text"]
             for _, r in islice(readers.read_gnome_sample(Path(settings.GNOME_DATA_DIR) / readers.GNOME_SAMPLE), rows)]
    fast, slow = [], []
    for _ in range(3):
        t = time.perf_counter()
        for text in texts:
            science.parse_p1_cif(text)
        fast.append(time.perf_counter() - t)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for text in texts:
                Structure.from_str(text, fmt="cif")
        slow.append(time.perf_counter() - t)
    f, s = statistics.median(fast) / rows * 1e3, statistics.median(slow) / rows * 1e3
    print(f"CIF parsing, {rows} GNoME rows, median of 3: fast P1 path {f:.2f} ms/row, "
          f"pymatgen CifParser {s:.2f} ms/row, ratio {s / f:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/gnome_bench")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--parser-rows", type=int, default=1000)
    args = parser.parse_args()

    recreate_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from materials.models import ImportRun

    call_command("migrate", verbosity=0)
    print(f"cores: {os.cpu_count()}, workers: {args.workers or os.cpu_count()}")
    time_parsers(args.parser_rows)

    options = {"verbosity": 0, **({"workers": args.workers} if args.workers else {})}
    total = 0.0
    for label in ("first import", "re-import (idempotent)"):
        phase = 0.0
        for command in ("import_references", "import_gnome", "import_mp_hull"):
            t = time.perf_counter()
            call_command(command, **(options if command != "import_references" else {"verbosity": 0}))
            seconds = time.perf_counter() - t
            phase += seconds
            if command != "import_references":
                run = ImportRun.objects.filter(importer=command).first()
                print(f"{label:24s} {command:16s} {run.rows_read:6d} rows in {seconds:6.1f} s = "
                      f"{run.rows_read / seconds:7.0f} rows/s ({run.summary()})")
        print(f"{label:24s} total {phase:.1f} s")
        total = total or phase
    print(f"first full import: {total:.1f} s (target < 180 s)")


if __name__ == "__main__":
    main()
