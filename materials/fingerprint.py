"""Structure fingerprints for "similar materials": a fixed-length float32 vector per crystal. Pure, no Django.

Two crystals of the same structure type (prototype) with similar chemistry get nearby vectors; the Euclidean
distance between two vectors is the dissimilarity shown to users (0 = the same fingerprint; unitless).

Why not the Materials Project's CrystalNN site-statistics fingerprint: ``benchmarks/similarity.py`` measures
both on the GNoME sample (``benchmarks/RESULTS.md``, "Similar materials"). CrystalNN costs tenths of a second
per crystal, too slow to compute at import, and it sees topology only, so a perturbed copy of a crystal does not
find the original among the crystals of its prototype. This fingerprint costs a few milliseconds (one call to
pymatgen's neighbour list, in C, and numpy), and retrieves at least as well.

Every length is measured in units of ``a = (V / N) ** (1/3)`` (the cube root of the volume per atom), so the
vector does not change when a cell is scaled, and it is intensive: a supercell has the vector of its cell.
The blocks, each scaled by a fixed weight:

1. radial distribution ``g(r)``: pair distances smeared by Gaussians on a grid, divided by the ideal-gas count
   ``4 pi r^2`` per atom (so every bin is of order 1);
2. ordering correlation: the same pairs weighted by ``(p_i - <p>)(p_j - <p>) / var(p)`` of the Mendeleev
   number ``p``, positive where like atoms are neighbours and negative where unlike ones are: how a structure
   is decorated, without naming elements;
3. stoichiometry: the atomic fractions, largest first (the anonymous formula), weighted heavily: crystals of
   another anonymous formula are never of the same prototype;
4. chemistry: site-averaged mean and spread of the Mendeleev number, Pauling electronegativity, period and
   group, so that among crystals of one prototype the chemically closest come first.

The widths and weights were chosen on the sample by ``benchmarks/similarity.py`` (nearest neighbour of the
same prototype, and a perturbed, strained copy finding its original); a coordination-number block (Hoppe's
ECoN histogram) was measured too and left out, as it improved neither.

Bump ``FINGERPRINT_VERSION`` whenever any of it changes: stored vectors of another version are recomputed.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from pymatgen.core import Element, Structure

__all__ = ["DIMENSION", "FINGERPRINT_VERSION", "fingerprint", "fingerprint_item", "from_bytes", "nearest",
           "stored_fingerprint", "to_bytes"]

FINGERPRINT_VERSION = "gnx-rdf-1"

R_MIN, R_MAX, R_BINS = 0.55, 2.35, 24  # grid of g(r) in units of a
R_SIGMA = 0.11
STOICHIOMETRY = 5
WEIGHTS = {"rdf": 1.0, "order": 0.5, "stoichiometry": 60.0, "chemistry": 15.0}

_R = np.linspace(R_MIN, R_MAX, R_BINS)


@cache
def _element_properties(symbol: str) -> tuple[float, float, float, float]:
    """(Mendeleev number / 100, Pauling electronegativity / 4, period / 7, group / 18); no electronegativity
    (noble gases) counts as 0."""
    element = Element(symbol)
    x = element.X
    x = 0.0 if x is None or not math.isfinite(x) else x
    return element.mendeleev_no / 100.0, x / 4.0, element.row / 7.0, element.group / 18.0


def _site_properties(structure: Structure) -> np.ndarray:
    """(sites, 4): each site's properties, averaged over its species by occupancy."""
    rows = []
    for site in structure:
        total = sum(site.species.values())
        props = np.zeros(4)
        for species, occupancy in site.species.items():
            props += occupancy * np.asarray(_element_properties(getattr(species, "element", species).symbol))
        rows.append(props / total)
    return np.asarray(rows)


def _smear(values: np.ndarray, grid: np.ndarray, sigma: float, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of Gaussians (unit area) centred on ``values`` (optionally weighted), sampled on ``grid``."""
    if values.size == 0:
        return np.zeros(len(grid))
    g = np.exp(-0.5 * ((grid[None, :] - values[:, None]) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return (g if weights is None else g * weights[:, None]).sum(axis=0)


def fingerprint(structure: Structure) -> np.ndarray:
    """The fingerprint of ``structure`` (float32, ``DIMENSION`` values).

    Raises:
        ValueError: for an empty structure or one with no volume.
    """
    n = len(structure)
    if n == 0:
        raise ValueError("empty structure: no sites")
    volume = structure.volume
    if not volume > 0:
        raise ValueError(f"cell volume {volume} Å^3: not a 3D periodic crystal")
    a = (volume / n) ** (1.0 / 3.0)
    centres, neighbours, _, distances = structure.get_neighbor_list((R_MAX + 3 * R_SIGMA) * a)
    r = distances / a
    shell = n * 4.0 * math.pi * _R**2  # pairs per bin of an ideal gas of density 1 (per atom), times n
    rdf = _smear(r, _R, R_SIGMA) / shell

    props = _site_properties(structure)
    p = props[:, 0]
    spread = p.std()
    if spread > 1e-9:
        z = (p - p.mean()) / spread
        order = _smear(r, _R, R_SIGMA, z[centres] * z[neighbours]) / shell
    else:
        order = rdf.copy()  # one kind of atom: every pair is a like pair

    fractions = sorted(structure.composition.fractional_composition.values(), reverse=True)[:STOICHIOMETRY]
    stoichiometry = np.zeros(STOICHIOMETRY)
    stoichiometry[: len(fractions)] = fractions

    chemistry = np.concatenate([props.mean(axis=0), props.std(axis=0)])

    vector = np.concatenate([
        WEIGHTS["rdf"] * rdf,
        WEIGHTS["order"] * order,
        WEIGHTS["stoichiometry"] * stoichiometry,
        WEIGHTS["chemistry"] * chemistry,
    ])
    return vector.astype(np.float32)


DIMENSION = 2 * R_BINS + STOICHIOMETRY + 8


def to_bytes(vector: np.ndarray) -> bytes:
    """The stored form: ``DIMENSION`` little-endian float32 values."""
    vector = np.asarray(vector, dtype="<f4")
    if vector.shape != (DIMENSION,):
        raise ValueError(f"a fingerprint has {DIMENSION} values, not {vector.shape}")
    return vector.tobytes()


def from_bytes(data: bytes) -> np.ndarray:
    vector = np.frombuffer(data, dtype="<f4")
    if vector.shape != (DIMENSION,):
        raise ValueError(f"stored fingerprint of {len(data)} bytes; {DIMENSION} float32 values expected")
    return vector


def stored_fingerprint(structure: Structure | dict) -> tuple[bytes | None, str]:
    """(stored vector, "") of a structure (or its dict), or (None, the reason) when it cannot be fingerprinted;
    never raises: a row or a batch is stored without the fingerprint of a structure that has none."""
    try:
        if isinstance(structure, dict):
            structure = Structure.from_dict(structure)
        return to_bytes(fingerprint(structure)), ""
    except Exception as exc:  # noqa: BLE001 - only the similar materials of this one structure are missing
        return None, f"{type(exc).__name__}: {exc}"[:300]


def fingerprint_item(item: tuple[int, dict]) -> tuple[int, bytes | None, str]:
    """(key, stored vector or None, reason) of a (key, structure dict) pair: the unit of work of a batch."""
    key, structure = item
    return (key, *stored_fingerprint(structure))


def nearest(matrix: np.ndarray, sq_norms: np.ndarray, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``matrix`` (n, DIMENSION; float32) nearest to ``vector`` by Euclidean distance, closest first:
    (row indices, distances), at most ``k`` of them. Brute force: one matrix-vector product (BLAS) and a
    partial sort, ``sq_norms`` being each row's squared norm, computed once with the matrix. That expansion
    loses small distances to float32 rounding, so the best candidates (a margin beyond ``k``) are measured
    again directly and sorted by that."""
    n = len(matrix)
    if n == 0 or k < 1:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    query = np.asarray(vector, dtype=np.float32)
    d2 = sq_norms - 2.0 * (matrix @ query)
    pool = min(n, 2 * k + 16)
    top = np.argpartition(d2, pool - 1)[:pool] if pool < n else np.arange(n)
    exact = np.linalg.norm(matrix[top] - query, axis=1)
    order = np.lexsort((top, exact))[: min(k, n)]
    return top[order], exact[order]
