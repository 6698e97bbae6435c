"""The hull engine on the whole data, against pymatgen: prints times, ratios, differences and counts.

    .venv/bin/python benchmarks/hull.py [--data-dir DIR] [--queries 2000] [--with-patched] [--skip-naive-mp]

The data come from --data-dir, default: the GNOME_DATA_DIR setting.

Entries: the GNoME sample (total energy = e_form_per_atom * nsites + sum(n_i * mu_i)) and the
Materials Project snapshot with the MP2020 correction applied (``materials.rows.process_mp``; the
corrected energies are cached under ``var/benchmarks/`` so re-runs skip that minute or two).

(a) Full recompute: ``hullapi.engine.compute_hull`` against the naive pymatgen way (one
    ``PhaseDiagram`` per chemical system over all its subset entries plus the references as
    ``PDEntry`` at mu, then ``get_decomp_and_e_above_hull(allow_negative=True)`` per entry) and,
    with ``--with-patched``, pymatgen's ``PatchedPhaseDiagram`` (about 8 minutes): times, ratios,
    largest absolute difference in energy above hull.
(b) Hypothetical stability queries (real compositions from the data, energies perturbed) against
    the warm ``HullIndex``: median and p95 per query.
(c) Counts: stable entries, hull vertices, entries not placed and why.
(a') The 'mp' hull set alone, also against naive pymatgen (skip with --skip-naive-mp).
(d) Our energies above hull beside the values GNoME published for the snapshot rows.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from multiprocessing import Pool
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pymatgen.analysis.phase_diagram import PatchedPhaseDiagram, PDEntry, PhaseDiagram  # noqa: E402
from pymatgen.core import Composition  # noqa: E402
from pymatgen.entries.computed_entries import ComputedEntry  # noqa: E402

from hullapi.engine import (  # noqa: E402
    ROUNDING_EV_PER_ATOM,
    STABILITY_TOL_EV_PER_ATOM,
    HullEntry,
    HullResult,
    compute_hull,
    reference_id,
)
from materials import readers, rows  # noqa: E402


def default_data_dir() -> Path:
    """The GNOME_DATA_DIR setting, read without starting Django (the engine is pure)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    from django.conf import settings

    return Path(settings.GNOME_DATA_DIR)


def load_references(data_dir: Path) -> dict[str, float]:
    return readers.reference_energies(data_dir / readers.ELEMENTAL_REFERENCES)


def gnome_entries(data_dir: Path, refs: dict[str, float]) -> list[HullEntry]:
    """The sample rows with their total energies (NaN where the formation energy is missing or an
    element has no reference: the engine reports those as not placed)."""
    entries = []
    with gzip.open(data_dir / readers.GNOME_SAMPLE, "rt") as fh:
        for line in fh:
            row = json.loads(line)
            comp = Composition(row["composition"])
            e_form = row["e_form_per_atom"]
            energy = float("nan")
            if e_form is not None and all(el.symbol in refs for el in comp):
                energy = e_form * comp.num_atoms + sum(n * refs[el.symbol] for el, n in comp.items())
            entries.append(HullEntry(row["material_id"], row["composition"], energy))
    return entries


def mp_entries(data_dir: Path, refs: dict[str, float], cache_dir: Path,
               workers: int) -> tuple[list[HullEntry], dict[str, str]]:
    """Snapshot rows with MP2020-corrected energies, and rows the correction rejected (id -> reason)."""
    source = data_dir / readers.MP_SNAPSHOT
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    cache = cache_dir / f"mp_hull_snapshot_mp2020_{digest}.json.gz"
    if not cache.is_file():
        print(f"MP2020-correcting {source.name} once (cached in {cache.relative_to(ROOT)}) ...", flush=True)
        items = [(number, record["material_id"], "", record) for number, record in readers.read_mp_snapshot(source)]
        with Pool(workers, initializer=rows.init_worker, initargs=(rows.process_mp, refs)) as pool:
            processed = pool.map(rows.process_one, items, chunksize=200)
        corrected = [
            [material_id, record["composition"], out["calculation"]["energy_corrected_ev"]]
            for (_, material_id, _, record), (_, _, _, out) in zip(items, processed, strict=True)
            if isinstance(out, dict)
        ]
        rejected = {material_id: out for _, material_id, _, out in processed if isinstance(out, str)}
        cache.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(cache, "wt") as fh:
            json.dump({"entries": corrected, "rejected": rejected}, fh)
    with gzip.open(cache, "rt") as fh:
        cached = json.load(fh)
    return [HullEntry(*row) for row in cached["entries"]], cached["rejected"]


class Placement(NamedTuple):
    """What each method says of an entry: energy above hull (eV/atom), decomposition, hull vertex."""

    e_above_hull_ev_per_atom: float
    decomposition: dict[str, float]
    on_hull: bool


def pymatgen_entries(entries: list[HullEntry], refs: dict[str, float]) -> list[ComputedEntry]:
    """The placeable entries as ComputedEntry objects, in id order (pymatgen breaks exact ties by input order)."""
    computed = []
    for entry_id, formula, energy in sorted(entries):
        comp = Composition(formula)
        if math.isfinite(energy) and all(el.symbol in refs for el in comp):
            computed.append(ComputedEntry(comp, energy, entry_id=entry_id))
    return computed


def placement(diagram: PhaseDiagram | PatchedPhaseDiagram, entry: ComputedEntry, stable: set) -> Placement:
    decomposition, e_above = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
    named = {(e.entry_id if isinstance(e, ComputedEntry) else e.name): x for e, x in decomposition.items()}
    return Placement(e_above, named, entry in stable)


def naive_pymatgen(entries: list[HullEntry], refs: dict[str, float]) -> dict[str, Placement]:
    """One PhaseDiagram per chemical system over all its subset entries and the references."""
    by_system: dict[str, list[ComputedEntry]] = defaultdict(list)
    for entry in pymatgen_entries(entries, refs):
        by_system[entry.composition.chemical_system].append(entry)
    references = {el: PDEntry(Composition(el), mu, name=reference_id(el)) for el, mu in refs.items()}
    placed: dict[str, Placement] = {}
    for system, own in by_system.items():
        elements = system.split("-")
        pool = [references[el] for el in elements]
        for k in range(1, len(elements) + 1):
            for subset in itertools.combinations(elements, k):
                pool.extend(by_system.get("-".join(subset), ()))
        diagram = PhaseDiagram(pool)
        stable = diagram.stable_entries
        placed.update((entry.entry_id, placement(diagram, entry, stable)) for entry in own)
    return placed


def patched_pymatgen(entries: list[HullEntry], refs: dict[str, float]) -> dict[str, Placement]:
    """pymatgen's PatchedPhaseDiagram over all entries and the references."""
    computed = pymatgen_entries(entries, refs)
    references = [PDEntry(Composition(el), mu, name=reference_id(el)) for el, mu in refs.items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diagram = PatchedPhaseDiagram(computed + references)
        stable = diagram.stable_entries
        return {entry.entry_id: placement(diagram, entry, stable) for entry in computed}


def compare(result: HullResult, theirs: dict[str, Placement], refs: dict[str, float]) -> str:
    """Largest |difference| in energy above hull, and how many decompositions and vertex flags differ.

    Elemental decomposition products are compared by element: a bare reference and the reference
    material itself (same energy) are the same terminal point.
    """
    if set(result.stability) != set(theirs):
        raise SystemExit(f"entry sets differ: {len(set(result.stability) ^ set(theirs))} entries in one result only")
    element_of = {s.entry_id: s.chemsys for s in result.stability.values() if "-" not in s.chemsys}
    element_of.update((reference_id(el), el) for el in refs)

    def terminal_named(decomposition: Iterable[tuple[str, float]]) -> dict[str, float]:
        named: dict[str, float] = defaultdict(float)
        for entry_id, fraction in decomposition:
            named[element_of.get(entry_id, entry_id)] += fraction
        return named

    diff, worst = max((abs(s.e_above_hull_ev_per_atom - theirs[k].e_above_hull_ev_per_atom), k)
                      for k, s in result.stability.items())
    decompositions = vertices = stable = 0
    for entry_id, ours in result.stability.items():
        a, b = terminal_named(ours.decomposition), terminal_named(theirs[entry_id].decomposition.items())
        decompositions += set(a) != set(b) or any(abs(a[k] - b[k]) > 1e-6 for k in a)
        vertices += ours.on_hull != theirs[entry_id].on_hull and "-" in ours.chemsys
        stable += ours.is_stable != (theirs[entry_id].e_above_hull_ev_per_atom
                                     <= STABILITY_TOL_EV_PER_ATOM + ROUNDING_EV_PER_ATOM)
    return (f"max |diff e_above_hull| {diff:.1e} eV/atom ({worst}); differing: decompositions {decompositions}, "
            f"compound hull vertices {vertices}, stable flags {stable}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "var" / "benchmarks")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="processes for the one-off MP2020 correction")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--with-patched", action="store_true", help="also time PatchedPhaseDiagram (~8 min)")
    parser.add_argument("--skip-naive-mp", action="store_true", help="do not check the 'mp' hull set against naive pymatgen")
    args = parser.parse_args()

    refs = load_references(args.data_dir)
    mp, rejected = mp_entries(args.data_dir, refs, args.cache_dir, args.workers)
    entries = gnome_entries(args.data_dir, refs) + mp
    print(f"entries: {len(entries)} ({len(entries) - len(mp)} GNoME sample, {len(mp)} MP snapshot, MP2020-corrected; "
          f"{len(rejected)} snapshot rows rejected by the correction); references for {len(refs)} elements")

    # (a) full recompute
    start = time.perf_counter()
    result = compute_hull(entries, refs)
    engine_s = time.perf_counter() - start
    systems = {s.chemsys for s in result.stability.values()}
    print(f"\n(a) full recompute, {len(result.stability)} placed entries in {len(systems)} chemical systems")
    print(f"    engine (compute_hull, 1 process, with phase-separation energies): {engine_s:7.1f} s")

    start = time.perf_counter()
    naive = naive_pymatgen(entries, refs)
    naive_s = time.perf_counter() - start
    print(f"    naive pymatgen (one PhaseDiagram per system):                    {naive_s:7.1f} s   "
          f"engine {naive_s / engine_s:.1f}x faster")
    print(f"      {compare(result, naive, refs)}")

    if args.with_patched:
        start = time.perf_counter()
        patched = patched_pymatgen(entries, refs)
        patched_s = time.perf_counter() - start
        print(f"    pymatgen PatchedPhaseDiagram:                                    {patched_s:7.1f} s   "
              f"engine {patched_s / engine_s:.1f}x faster")
        print(f"      {compare(result, patched, refs)}")

    # (b) hypothetical queries against the warm index
    rng = random.Random(args.seed)
    energy_of = {e.entry_id: e for e in entries}
    picks = rng.sample(sorted(result.stability), args.queries)
    queries = []
    for entry_id in picks:
        _, formula, energy = energy_of[entry_id]
        queries.append((formula, energy / Composition(formula).num_atoms + rng.uniform(-0.1, 0.1)))
    index = result.index
    cold = []
    for formula, per_atom in queries:
        start = time.perf_counter()
        index.query(formula, energy_ev_per_atom=per_atom)
        cold.append(time.perf_counter() - start)
    warm = []
    for formula, per_atom in queries:
        start = time.perf_counter()
        index.query(formula, energy_ev_per_atom=per_atom)
        warm.append(time.perf_counter() - start)
    warm.sort()
    print(f"\n(b) {len(queries)} hypothetical queries (real compositions, energies perturbed by up to 0.1 eV/atom)")
    print(f"    warm hull: median {statistics.median(warm) * 1e3:.3f} ms, p95 {warm[int(0.95 * len(warm))] * 1e3:.3f} ms; "
          f"first pass (building each system's hull): median {statistics.median(cold) * 1e3:.3f} ms")

    # (c) counts
    stable = sum(s.is_stable for s in result.stability.values())
    vertices = sum(s.on_hull for s in result.stability.values())
    at_threshold = sum(abs(s.e_above_hull_ev_per_atom - STABILITY_TOL_EV_PER_ATOM) <= ROUNDING_EV_PER_ATOM
                       for s in result.stability.values())
    print(f"\n(c) stable (e_above_hull <= 5e-5 eV/atom): {stable} of {len(result.stability)} "
          f"({at_threshold} of them exactly at 5e-5); hull vertices: {vertices}")
    reasons = Counter(reason.split(":")[0] for reason in result.not_placed.values())
    print(f"    not placed: {len(result.not_placed)}")
    for reason, count in reasons.most_common():
        print(f"      {count:6d}  {reason}")
    for reason, count in Counter(rejected.values()).most_common():
        print(f"      {count:6d}  snapshot row rejected by the MP2020 correction: {reason}")

    mp_only = mp_hull_set(mp, refs, check_naive=not args.skip_naive_mp)
    published_comparison(args.data_dir, result, mp_only)


def mp_hull_set(mp: list[HullEntry], refs: dict[str, float], check_naive: bool) -> HullResult:
    """(a') The 'mp' hull set alone (snapshot rows only), optionally checked against naive pymatgen."""
    start = time.perf_counter()
    mp_only = compute_hull(mp, refs)
    print(f"\n(a') the 'mp' hull set alone ({len(mp_only.stability)} placed entries): engine "
          f"{time.perf_counter() - start:.1f} s")
    if check_naive:
        start = time.perf_counter()
        naive = naive_pymatgen(mp, refs)
        print(f"    naive pymatgen {time.perf_counter() - start:.1f} s; {compare(mp_only, naive, refs)}")
    return mp_only


def published_comparison(data_dir: Path, result: HullResult, mp_only: HullResult) -> None:
    """(d) Our energies above hull beside the values GNoME published for the snapshot rows."""
    with open(data_dir / readers.MP_SNAPSHOT, newline="") as fh:
        published = {row["MaterialId"]: row for row in csv.DictReader(fh)}
    print("\n(d) published values (snapshot rows) beside ours")
    for label, stability, column in (
        ("'all' hull (ours: corrected snapshot + sample)", result.stability, "Decomposition Energy Per Atom All"),
        ("'mp' hull (ours: corrected snapshot only)", mp_only.stability, "Decomposition Energy Per Atom MP"),
    ):
        diffs = [s.e_above_hull_ev_per_atom - float(published[i][column]) for i, s in stability.items() if i in published]
        print(f"    {label}, vs '{column}' ({len(diffs)} rows): "
              f"|diff| > 25 meV/atom: {sum(abs(d) > 0.025 for d in diffs)}; "
              f"ours above by > 1 meV/atom: {sum(d > 0.001 for d in diffs)}; "
              f"ours above by > 5e-5 eV/atom: {sum(d > STABILITY_TOL_EV_PER_ATOM for d in diffs)}")

if __name__ == "__main__":
    main()
