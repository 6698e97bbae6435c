"""Latency of the REST API on a fixed mix of 20 representative queries: p50/p95 per query.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gnome_bench .venv/bin/python benchmarks/api.py [--repeats 20]
    ... benchmarks/api.py --mp-only   # only the mp-api routes beside the REST API's, as medians and ratios

Runs in-process through Django's test client (no network: what is measured is the application and the
database), against a database holding the full sample with both hulls computed (import_gnome,
import_mp_hull, recompute_hull). Target: p95 under 100 ms for every query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MIX = [
    ("formula exact", "/api/v1/materials/?formula=LiFePO4"),
    ("formula list", "/api/v1/materials/?formula=NaCl,LiCoO2,Fe2O3"),
    ("anonymous formula", "/api/v1/materials/?formula=ABC3&_per_page=100"),
    ("chemsys exact", "/api/v1/materials/?chemsys=Li-Mn-O"),
    ("chemsys wildcard", "/api/v1/materials/?chemsys=Li-*-O&_per_page=100"),
    ("elements", "/api/v1/materials/?elements=Li,O,P&_per_page=100"),
    ("elements + exclude", "/api/v1/materials/?elements=Li&exclude_elements=Co,Ni,Mn&_per_page=100"),
    ("stable on mp hull", "/api/v1/materials/?is_stable=true&hull=mp&_per_page=100"),
    ("e_hull range, sorted", "/api/v1/materials/?energy_above_hull_max=0.025&_sort_fields=-energy_above_hull&_per_page=100"),
    ("formation energy range", "/api/v1/materials/?formation_energy_per_atom_max=-3&_per_page=100"),
    ("nsites + nelements", "/api/v1/materials/?nsites_max=10&nelements_min=4&_per_page=100"),
    ("crystal system + density", "/api/v1/materials/?crystal_system=cubic&density_min=8&_per_page=100"),
    ("space group", "/api/v1/materials/?spacegroup_number=225&_per_page=100"),
    ("source + licence", "/api/v1/materials/?source=mp&license=BY&_per_page=100"),
    ("deep page", "/api/v1/materials/?_page=300&_per_page=100"),
    ("all fields, 1000 rows", "/api/v1/materials/?_all_fields=true&_per_page=1000"),
    ("one material", None),  # filled with a real GNoME id
    ("structure CIF", None),
    ("hull of a ternary", "/api/v1/hull/Li-Mn-O/?hull=all"),
    ("stability query", "POST"),
]

# Not part of the 20-query target: the OPTIMADE endpoint on the same data.
OPTIMADE = [
    ("optimade HAS ALL + nelements", '/optimade/v1/structures?filter=elements HAS ALL "Li","O" AND nelements=3'),
    ("optimade HAS ONLY", '/optimade/v1/structures?filter=elements HAS ONLY "Li","Fe","P","O"'),
    ("optimade NOT HAS ANY", '/optimade/v1/structures?filter=NOT elements HAS ANY "U","Pu"&page_limit=100'),
    ("optimade e_hull, sorted", "/optimade/v1/structures?filter=_gnx_energy_above_hull < 0.025&sort=nsites"),
    ("optimade deep page", "/optimade/v1/structures?page_offset=20000&page_limit=100"),
]


# The mp-api client's routes (/api/mp/, docs/mp_api.md) beside the REST API's answer to the same question:
# (label, REST URL, mp-api URL). Same filters and fields on both sides; {id} and {alias} are a GNoME material's.
FIELDS = "material_id,formula_pretty,energy_above_hull,formation_energy_per_atom,is_stable"
THERMO = ("/api/mp/materials/thermo/?chemsys=Li,Mn,O,Li-Mn,Li-O,Mn-O,Li-Mn-O&thermo_types=GGA_GGA%2BU"
          "&_fields=entries,thermo_type&_limit=1000")
MP_PAIRS = [
    ("chemsys exact", f"/api/v1/materials/?chemsys=Li-Mn-O&_fields={FIELDS}",
     f"/api/mp/materials/summary/?chemsys=Li-Mn-O&_fields={FIELDS}"),
    ("chemsys wildcard, 100", f"/api/v1/materials/?chemsys=Li-*-O&_per_page=100&_fields={FIELDS}",
     f"/api/mp/materials/summary/?chemsys=Li-*-O&_limit=100&_fields={FIELDS}"),
    ("elements, 100", f"/api/v1/materials/?elements=Li,O,P&_per_page=100&_fields={FIELDS}",
     f"/api/mp/materials/summary/?elements=Li,O,P&_limit=100&_fields={FIELDS}"),
    ("e_hull range, sorted, 100", "/api/v1/materials/?energy_above_hull_max=0.025&_sort_fields=-energy_above_hull"
     f"&_per_page=100&_fields={FIELDS}", "/api/mp/materials/summary/?energy_above_hull_max=0.025"
     f"&_sort_fields=-energy_above_hull&_limit=100&_fields={FIELDS}"),
    ("stable, 1000 rows", f"/api/v1/materials/?is_stable=true&_per_page=1000&_fields={FIELDS}",
     f"/api/mp/materials/summary/?is_stable=True&_limit=1000&_fields={FIELDS}"),
    ("deep page (skip 2000)", f"/api/v1/materials/?_page=21&_per_page=100&_fields={FIELDS}",
     f"/api/mp/materials/summary/?_skip=2000&_limit=100&_fields={FIELDS}"),
    ("one material, everything", "/api/v1/materials/{id}/",
     "/api/mp/materials/summary/?material_ids={alias}&_all_fields=True"),
    ("its structure (JSON)", "/api/v1/materials/{id}/structure?fmt=json",
     "/api/mp/materials/core/?material_ids={alias}&_fields=structure"),
    # what get_entries_in_chemsys asks for, beside the hull of the system; both are kept per data version
    # (materials/versioned_cache.py), so the pair is timed twice: as served (cache hits) and built afresh (the
    # cache cleared before each pair of calls)
    ("Li-Mn-O entries / hull (cached)", "/api/v1/hull/Li-Mn-O/", THERMO),
    ("Li-Mn-O entries / hull (built)", "/api/v1/hull/Li-Mn-O/", THERMO),
]
FRESH = {"Li-Mn-O entries / hull (built)"}


def mp_side_by_side(client, material, repeats: int) -> None:
    """Median latency of each mp-api route and of the REST API's answer to the same question, and their ratio.
    The two run interleaved, call by call, so that a busy machine slows both alike."""
    from django.core.cache import cache

    from materials.mp_ids import mp_alias

    print(f"mp-api routes beside the REST API (medians of {repeats} interleaved calls after a warm-up):")
    ratios = []
    for label, rest_url, mp_url in MP_PAIRS:
        urls = [u.format(id=material.material_id, alias=mp_alias(material.material_id)) for u in (rest_url, mp_url)]
        times: list[list[float]] = [[], []]
        for i in range(repeats + 1):
            for side, url in enumerate(urls):
                if label in FRESH and side == 0:
                    cache.clear()
                start = time.perf_counter()
                response = client.get(url)
                elapsed = (time.perf_counter() - start) * 1e3
                assert response.status_code == 200, (label, url, response.status_code, response.content[:200])
                if i:
                    times[side].append(elapsed)
        rest_ms, mp_ms = statistics.median(times[0]), statistics.median(times[1])
        ratios.append(mp_ms / rest_ms)
        print(f"  {label:32s} REST {rest_ms:7.1f} ms   mp-api {mp_ms:7.1f} ms   ratio {mp_ms / rest_ms:5.2f}")
    print(f"ratio mp-api / REST: median {statistics.median(ratios):.2f}, worst {max(ratios):.2f} "
          f"(target: within 20%, 1.20)")


def timed(fn, repeats: int) -> tuple[float, float]:
    """(p50, p95) in ms of ``fn()`` over ``repeats`` calls after one warm-up."""
    times = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        fn()
        if i:
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--mp-only", action="store_true", help="only the mp-api routes beside the REST API's")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    os.environ["API_ANON_RATE"] = "1000000/min"
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    import gnome_site.wsgi  # noqa: F401 - the served application's process state (its gc.freeze() included)
    from materials.models import Material

    client = Client(HTTP_HOST="127.0.0.1")
    material = Material.objects.filter(source="gnome", nsites__gte=20).order_by("material_id").first()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}, "
          f"{Material.objects.count()} materials; {args.repeats} repeats after one warm-up")
    if args.mp_only:
        mp_side_by_side(client, material, args.repeats)
        return
    worst = 0.0
    for label, url in MIX:
        if label == "one material":
            url = f"/api/v1/materials/{material.material_id}/"
        elif label == "structure CIF":
            url = f"/api/v1/materials/{material.material_id}/structure?fmt=cif"

        def call(url=url, label=label):
            if url == "POST":
                response = client.post("/api/v1/hull/stability/", {"entries": [
                    {"formula": "LiMnO2", "energy_ev_per_atom": -6.5}, {"formula": "Li3PO4", "energy_ev_per_atom": -6.8}]},
                    content_type="application/json")
            else:
                response = client.get(url)
            assert response.status_code == 200, (label, response.status_code, response.content[:200])

        p50, p95 = timed(call, args.repeats)
        worst = max(worst, p95)
        print(f"  {label:30s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    print(f"worst p95: {worst:.1f} ms (target < 100 ms)")

    print("OPTIMADE (same data, default page_limit 20 unless given):")
    for label, url in OPTIMADE:
        def call(url=url, label=label):
            response = client.get(url)
            assert response.status_code == 200, (label, response.status_code, response.content[:200])

        p50, p95 = timed(call, args.repeats)
        print(f"  {label:30s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")

    mp_side_by_side(client, material, args.repeats)

    # Baseline in the same run: "contains Li, O and P" as a regex on chemsys (the first implementation)
    # against elements_all (the GIN index on PostgreSQL, the bit masks on SQLite),
    # count plus a first page of 100, through the ORM.
    from django.db.models import Q

    from materials import query

    regex = Q()
    for symbol in ("Li", "O", "P"):
        regex &= Q(chemsys__regex=rf"(^|-){symbol}(-|$)")
    masks = query.elements_all(["Li", "O", "P"])

    def run(q):
        qs = Material.objects.filter(q).order_by("material_id")
        qs.count()
        list(qs.values_list("material_id", flat=True)[:100])

    assert Material.objects.filter(regex).count() == Material.objects.filter(masks).count()
    regex_p50, _ = timed(lambda: run(regex), args.repeats)
    mask_p50, _ = timed(lambda: run(masks), args.repeats)
    print(f"elements Li,O,P: regex on chemsys {regex_p50:.1f} ms, "
          f"elements_all ({'GIN' if connection.vendor == 'postgresql' else 'bit masks'}) {mask_p50:.1f} ms "
          f"({regex_p50 / mask_p50:.1f}x)")


if __name__ == "__main__":
    main()
