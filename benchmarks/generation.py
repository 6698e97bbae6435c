"""Candidate generators on real seeds from the sample: candidates/s of each, and peak memory of a streamed run
of at least a million substitution candidates. No database needed.

    .venv/bin/python benchmarks/generation.py [--seeds 40] [--million 1000000]

Prints candidates/s (median of 3 repeats) for ionic substitution, SAPS, the composition enumeration under the
relaxed oxidation-state rule, and pyxtal random structures with the soft-sphere pre-relaxation; then streams
--million substitution candidates (seeds from the sample, in file order, cycled) through the novelty filter
and the exact deduplication in a fresh process and prints its peak resident memory beside the process's
resident memory before the stream. Target: bounded, under 1 GB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("GNOME_DATA_DIR") or ROOT.parent / "shared" / "data")  # as the settings


def seeds(n: int, skip: int = 0):
    from pymatgen.core import Structure

    out = []
    with gzip.open(DATA / "gnome_materials_sample.jsonl.gz", "rt") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, line in enumerate(fh):
            if i < skip:
                continue
            row = json.loads(line)
            out.append((row["material_id"], Structure.from_str(row["cif"], fmt="cif"), row["reduced_formula"]))
            if len(out) == n:
                break
    return out


def rate(make, repeats: int = 3) -> tuple[float, int]:
    counts, times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        counts.append(sum(1 for _ in make()))
        times.append(time.perf_counter() - start)
    return counts[0] / statistics.median(times), counts[0]


def each_seed(generator, chosen, **options):
    from discovery.generation.candidates import GenerationError

    def run():
        for seed_id, structure, _ in chosen:
            try:
                yield from generator(structure, seed_id, **options)
            except GenerationError:
                continue
    return run


def million(n: int) -> None:
    """The streamed run (in its own process, so that its peak memory is its own)."""
    from discovery.generation.candidates import GenerationError
    from discovery.generation.streams import StreamStats, pipeline
    from discovery.generation.substitution import substitutions

    pool = seeds(400)
    known = frozenset(formula for _, _, formula in pool)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def endless():
        while True:
            for seed_id, structure, _ in pool:
                # each pass perturbs the lattice slightly, so that candidates of later passes are new structures
                try:
                    yield from substitutions(structure, seed_id)
                except GenerationError:
                    continue
            for _, structure, _ in pool:
                structure.scale_lattice(structure.volume * 1.001)

    stats = StreamStats()
    start = time.perf_counter()
    count = sum(1 for _ in pipeline(endless(), known_formulas=known, limit=n, stats=stats))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"streamed {count:,} substitution candidates (novelty + exact dedup) in {seconds:.0f} s "
          f"({count / seconds:,.0f}/s): peak resident memory {peak:.0f} MB (before the stream {before:.0f} MB; "
          f"{stats.exact_duplicate:,} duplicates, {stats.known_composition:,} known compositions dropped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=40, help="Sample seeds for the rate figures.")
    parser.add_argument("--million", type=int, default=1_000_000, help="Candidates of the streamed run (0: skip).")
    parser.add_argument("--_stream", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args._stream:
        million(args._stream)
        return
    from pymatgen.core import Composition

    from discovery.generation.candidates import GenerationError
    from discovery.generation.compositions import enumerate_compositions
    from discovery.generation.random_structures import RandomStructureStats, random_structures
    from discovery.generation.saps import saps
    from discovery.generation.substitution import seed_species, substitutions

    chosen, read = [], 0
    for batch_start in range(0, 30000, 500):
        for seed in seeds(500, skip=batch_start):
            read += 1
            try:
                seed_species(seed[1], seed[0])
            except GenerationError:
                continue  # an intermetallic without guessable oxidation states: generators skip it too
            chosen.append(seed)
            if len(chosen) == args.seeds:
                break
        if len(chosen) == args.seeds:
            break
    print(f"seeds: the first {len(chosen)} sample rows with guessable oxidation states ({read} rows read)")
    each_seed(substitutions, chosen)()  # warm: the substitution table loads once
    per_s, n = rate(each_seed(substitutions, chosen))
    print(f"ionic substitution: {per_s:,.0f} candidates/s ({n:,} candidates)")
    per_s, n = rate(each_seed(saps, chosen, max_per_seed=200))
    print(f"SAPS (at most 200 per seed): {per_s:,.0f} candidates/s ({n:,} candidates)")
    per_s, n = rate(lambda: enumerate_compositions(["Li", "P", "S"], max_atoms=20))
    print(f"compositions of Li-P-S (<= 20 atoms per formula unit, relaxed oxidation-state rule): "
          f"{per_s:,.0f} admitted/s ({n:,} admitted)")
    stats = RandomStructureStats()
    per_s, n = rate(lambda: random_structures(Composition("Li3PS4"), 10, seed=0, stats=stats), repeats=1)
    print(f"random structures of Li3PS4 (pyxtal + soft-sphere pre-relaxation): {per_s:.2f} structures/s "
          f"({n} structures, {stats.overlapping} dropped as overlapping, {stats.unbuildable} space groups unbuildable)")
    if args.million:
        subprocess.run([sys.executable, __file__, "--_stream", str(args.million)], check=True)


if __name__ == "__main__":
    main()
