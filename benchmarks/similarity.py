"""Similar materials: fingerprint cost and retrieval quality on the sample, and the in-memory search at 592k.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gnome_dev .venv/bin/python benchmarks/similarity.py \
        [--crystalnn 800]

Reads the stored GNoME structures (read-only; the database needs no fingerprint table). Figures:
1. time to fingerprint one structure (median of the per-repeat medians over --timed structures);
2. retrieval on the whole sample: for --queries crystals whose prototype (anonymous formula + space group) has
   another member, is the nearest other crystal of the same prototype, and does StructureMatcher (anonymous) match
   the pair; does a perturbed copy (every site moved 0.05 Å in a random direction, the cell strained by up to 2 %)
   find its original at rank 1, and does a 2x1x1 supercell;
3. with --crystalnn N: the same on a pool of N crystals (the queries, up to 3 prototype mates each, random others)
   for this fingerprint and the Materials Project's CrystalNN site-statistics fingerprint (matminer's
   SiteStatsFingerprint of CrystalNNFingerprint "ops", stats mean and maximum: emmet's CrystalNNSimilarity).
   matminer is not a dependency (0.10.1 requires pandas<3; the lock has pandas 3.1): install it aside,
   ``pip install --no-deps --target DIR matminer==0.10.1`` and put DIR on PYTHONPATH;
4. search at the GNoME scale (592,501 rows): the real fingerprints tiled with Gaussian noise (0.01 per value)
   into a float32 matrix; p50/p95 of ``materials.fingerprint.nearest`` over --searches real query vectors, its
   memory, and the time to read 592,501 stored vectors of this size from PostgreSQL (a generate_series of bytea
   values of the same length: the transfer and decoding the index build does).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCALE_ROWS = 592_501


def perturbed(structure, seed: int, displacement_a: float = 0.05, strain: float = 0.02):
    from pymatgen.core import Structure

    rng = np.random.default_rng(seed)
    copy = structure.copy()
    for i in range(len(copy)):
        direction = rng.normal(size=3)
        copy.translate_sites([i], displacement_a * direction / np.linalg.norm(direction), frac_coords=False)
    eps = rng.uniform(-strain, strain, (3, 3))
    return Structure(copy.lattice.matrix @ (np.eye(3) + (eps + eps.T) / 2), copy.species, copy.frac_coords)


def _ours(structure_dict):
    from pymatgen.core import Structure

    from materials.fingerprint import fingerprint

    return fingerprint(Structure.from_dict(structure_dict))


def _crystalnn():
    from matminer.featurizers.site import CrystalNNFingerprint
    from matminer.featurizers.structure import SiteStatsFingerprint

    return SiteStatsFingerprint(CrystalNNFingerprint.from_preset("ops", distance_cutoffs=None, x_diff_weight=None),
                                stats=("mean", "maximum"))


_CNN = None


def _theirs(structure_dict):
    global _CNN
    from pymatgen.core import Structure

    warnings.filterwarnings("ignore")
    _CNN = _CNN or _crystalnn()
    try:
        return np.asarray(_CNN.featurize(Structure.from_dict(structure_dict)), dtype=np.float32)
    except Exception:  # noqa: BLE001 - emmet's CrystalNNSimilarity scores a failure as NaN; so do we
        return np.full(len(_CNN.feature_labels()), np.nan, dtype=np.float32)


def _nearest_other(matrix: np.ndarray, queries: np.ndarray) -> np.ndarray:
    sq = np.einsum("ij,ij->i", matrix, matrix)
    out = []
    for q in queries:
        d = np.linalg.norm(matrix - matrix[q], axis=1) if np.isfinite(sq[q]) else np.full(len(matrix), np.inf)
        d[q] = np.inf
        d[~np.isfinite(d)] = np.inf
        out.append(int(np.argmin(d)))
    return np.asarray(out)


def _rank1(matrix: np.ndarray, vectors: np.ndarray, targets) -> float:
    hits = 0
    for vector, target in zip(vectors, targets, strict=True):
        d = np.linalg.norm(matrix - vector, axis=1)
        d[~np.isfinite(d)] = np.inf
        hits += int(np.argmin(d)) == target
    return hits / len(targets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timed", type=int, default=300, help="Structures timed one by one.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--perturbed", type=int, default=300)
    parser.add_argument("--matched", type=int, default=200, help="Nearest pairs checked with StructureMatcher.")
    parser.add_argument("--crystalnn", type=int, default=0, help="Pool size of the CrystalNN comparison (0: skip).")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")
    import django

    django.setup()
    from django.db import connection
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    from materials.fingerprint import (
        DIMENSION,
        FINGERPRINT_VERSION,
        fingerprint,
        nearest,
    )
    from materials.models import Material

    warnings.filterwarnings("ignore")
    rows = list(Material.objects.filter(structure__isnull=False).order_by("material_id")
                .values_list("material_id", "formula_anonymous", "spacegroup_number", "structure"))
    print(f"{len(rows)} structures; fingerprint {FINGERPRINT_VERSION}, {DIMENSION} float32 values "
          f"({DIMENSION * 4} bytes)")
    rng = np.random.default_rng(0)

    # 1. time per structure
    timed = [Structure.from_dict(rows[i][3]) for i in rng.choice(len(rows), args.timed, replace=False)]
    medians, p90s = [], []
    for _ in range(args.repeats):
        times = []
        for structure in timed:
            start = time.perf_counter()
            fingerprint(structure)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
        p90s.append(float(np.percentile(times, 90)))
    print(f"time per structure (ours, {args.timed} structures, median of {args.repeats}): median "
          f"{1e3 * statistics.median(medians):.2f} ms, p90 {1e3 * statistics.median(p90s):.2f} ms")

    # 2. the whole sample
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        matrix = np.asarray(pool.map(_ours, [r[3] for r in rows], chunksize=200))
    print(f"fingerprints of all {len(rows)} structures: {time.perf_counter() - start:.1f} s with {args.workers} "
          "processes (structure parsing included)")
    proto = [(r[1], r[2]) for r in rows]
    count = collections.Counter(proto)
    multi = [i for i, p in enumerate(proto) if count[p] >= 2]
    queries = rng.choice(multi, args.queries, replace=False)
    found = _nearest_other(matrix, queries)
    same = np.mean([proto[f] == proto[q] for q, f in zip(queries, found, strict=True)])
    anon = np.mean([proto[f][0] == proto[q][0] for q, f in zip(queries, found, strict=True)])
    matcher = StructureMatcher()
    pairs = list(zip(queries, found, strict=True))[: args.matched]
    matched = np.mean([matcher.fit_anonymous(Structure.from_dict(rows[q][3]), Structure.from_dict(rows[f][3]))
                       for q, f in pairs])
    print(f"whole sample, {args.queries} queries of prototypes with another member ({len(multi)} such crystals): "
          f"nearest other crystal of the same prototype {same:.3f}, same anonymous formula {anon:.3f}; "
          f"StructureMatcher anonymous match of the pair {matched:.3f} (first {len(pairs)})")
    targets = queries[: args.perturbed]
    copies = np.asarray([fingerprint(perturbed(Structure.from_dict(rows[q][3]), int(q))) for q in targets])
    supercells = np.asarray([fingerprint(Structure.from_dict(rows[q][3]) * (2, 1, 1)) for q in targets])
    print(f"perturbed copy (0.05 Å, strain <= 2 %) finds its original at rank 1: {_rank1(matrix, copies, targets):.3f}; "
          f"2x1x1 supercell: {_rank1(matrix, supercells, targets):.3f} ({len(targets)} crystals)")

    # 3. against CrystalNN site statistics
    if args.crystalnn:
        pool_ids = list(queries[:150])
        members = collections.defaultdict(list)
        for i, p in enumerate(proto):
            members[p].append(i)
        for q in queries[:150]:
            pool_ids += [m for m in members[proto[q]] if m != q][:3]
        pool_ids = list(dict.fromkeys(pool_ids))
        others = [i for i in rng.permutation(len(rows)) if i not in set(pool_ids)]
        pool_ids += others[: max(0, args.crystalnn - len(pool_ids))]
        local = {g: i for i, g in enumerate(pool_ids)}
        pq = np.asarray([local[q] for q in queries[:150]])
        sub = [rows[g][3] for g in pool_ids]
        sub_proto = [proto[g] for g in pool_ids]
        start = time.perf_counter()
        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            theirs = np.asarray(pool.map(_theirs, sub, chunksize=10))
        t_theirs = time.perf_counter() - start
        times = []
        for structure in timed[:30]:
            start = time.perf_counter()
            _theirs(structure.as_dict())
            times.append(time.perf_counter() - start)
        ours = matrix[pool_ids]
        tp = pq[:100]
        their_copies = np.asarray([_theirs(perturbed(Structure.from_dict(sub[q]), int(q)).as_dict()) for q in tp])
        our_copies = np.asarray([fingerprint(perturbed(Structure.from_dict(sub[q]), int(q))) for q in tp])
        for name, m, copies in (("ours", ours, our_copies), ("CrystalNN site stats", theirs, their_copies)):
            nn = _nearest_other(m, pq)
            same = np.mean([sub_proto[f] == sub_proto[q] for q, f in zip(pq, nn, strict=True)])
            print(f"pool of {len(pool_ids)}, {len(pq)} queries, {name} ({m.shape[1]} values): nearest other of the same "
                  f"prototype {same:.3f}; perturbed copy at rank 1 {_rank1(m, copies, tp):.3f} ({len(tp)})")
        print(f"CrystalNN site stats: {1e3 * statistics.median(times):.0f} ms per structure (median of 30, one "
              f"process); the pool took {t_theirs:.0f} s with {args.workers} processes; "
              f"{int(np.isnan(theirs).any(axis=1).sum())} failures")

    # 4. search at the GNoME scale
    tiles = -(-SCALE_ROWS // len(matrix))
    big = (np.tile(matrix, (tiles, 1))[:SCALE_ROWS] + rng.normal(0, 0.01, (SCALE_ROWS, DIMENSION))).astype(np.float32)
    sq = np.einsum("ij,ij->i", big, big)
    latencies = []
    for _ in range(args.repeats):
        for q in rng.choice(len(matrix), args.searches, replace=False):
            start = time.perf_counter()
            nearest(big, sq, matrix[q], 6)
            latencies.append(time.perf_counter() - start)
    print(f"search of {SCALE_ROWS} x {DIMENSION} (tiled real vectors + noise), k=5+1, {len(latencies)} searches: "
          f"p50 {1e3 * np.percentile(latencies, 50):.1f} ms, p95 {1e3 * np.percentile(latencies, 95):.1f} ms; "
          f"memory {(big.nbytes + sq.nbytes + SCALE_ROWS * 8) / 2**20:.0f} MiB (vectors, norms, int64 ids)")
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT i, decode(repeat('00', %s), 'hex') FROM generate_series(1, %s) i",
                       [DIMENSION * 4, SCALE_ROWS])
        ids, blobs = [], []
        while chunk := cursor.fetchmany(20000):
            for i, blob in chunk:
                ids.append(i)
                blobs.append(blob)
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), DIMENSION)
    print(f"reading {len(vectors)} stored vectors of {DIMENSION * 4} bytes from PostgreSQL into the matrix: "
          f"{time.perf_counter() - start:.1f} s (the index build, once per process and fingerprint change)")


if __name__ == "__main__":
    main()
