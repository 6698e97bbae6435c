"""Similar materials: the catalogue's crystals nearest to a structure by fingerprint distance.

The service behind ``GET /api/v1/materials/{id}/similar/``, the explorer's "Similar materials" panel and the
predict endpoint. Fingerprints (``materials.fingerprint``) are stored per material (``Fingerprint``), written
at import and by ``manage.py compute_fingerprints``.

Search: PostgreSQL here has no vector extension (pgvector is not packaged for this machine kind and nothing can
be downloaded), so the search runs in memory: each process keeps one float32 matrix of every stored
fingerprint of the current version and answers by brute force (one matrix-vector product and a partial sort;
``benchmarks/similarity.py`` measures p95 under 100 ms at the 592k scale, 144 MB of matrix). The matrix
depends on the fingerprint table only, so its version is that table's own: the latest ``computed_at``, one
index lookup per request (``materials.versioned_cache``'s data version does not move when
``compute_fingerprints`` runs, and its shared cache is the wrong place for a matrix of that size). When it
moves, the rows written since (with a margin for transactions that committed late) are merged in; a full
rebuild follows at most once an hour, or at once when the stamp moves back (a restore). Every answer's rows
are confirmed against the fingerprints stored now: a material deleted since is skipped, one whose row changed
(an id reused after a restore) is measured again.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db.models import FilteredRelation, Max, Q
from pymatgen.core import Structure

from .fingerprint import (
    DIMENSION,
    FINGERPRINT_VERSION,
    fingerprint,
    from_bytes,
    nearest,
)
from .models import Fingerprint, Material

__all__ = ["MAX_K", "UnknownMaterial", "similar_to_material", "similar_to_structure"]

MAX_K = 50
HULL_SET = "all"
LATE_COMMIT_MARGIN = timedelta(minutes=10)  # rows written this long before the stamp are read again
REBUILD_SECONDS = 3600
CHUNK = 20000


class UnknownMaterial(LookupError):
    """No material has this id."""


@dataclass(frozen=True)
class _Matrix:
    stamp: datetime | None
    built_at: float
    pks: np.ndarray  # int64, sorted
    vectors: np.ndarray  # float32 (n, DIMENSION)
    sq_norms: np.ndarray  # float32 (n,)


_EMPTY = _Matrix(None, 0.0, np.zeros(0, np.int64), np.zeros((0, DIMENSION), np.float32), np.zeros(0, np.float32))
_current = _EMPTY
_lock = threading.Lock()


def _read(since: datetime | None) -> tuple[np.ndarray, np.ndarray]:
    """(pks, vectors) of the stored fingerprints of this version, written after ``since`` if given."""
    qs = Fingerprint.objects.filter(version=FINGERPRINT_VERSION)
    if since is not None:
        qs = qs.filter(computed_at__gt=since)
    pks, blobs = [], []
    for pk, vector in qs.order_by("material_id").values_list("material_id", "vector").iterator(chunk_size=CHUNK):
        pks.append(pk)
        blobs.append(vector)
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(pks), DIMENSION).astype(np.float32)
    return np.asarray(pks, dtype=np.int64), vectors


def _with(pks: np.ndarray, vectors: np.ndarray, stamp: datetime | None, built_at: float) -> _Matrix:
    return _Matrix(stamp, built_at, pks, vectors, np.einsum("ij,ij->i", vectors, vectors))


def _merge(old: _Matrix, pks: np.ndarray, vectors: np.ndarray, stamp: datetime | None) -> _Matrix:
    """``old`` with these rows replaced or added (new arrays: a search in another thread keeps the old ones)."""
    position = np.searchsorted(old.pks, pks)
    known = (position < len(old.pks)) & (old.pks[np.minimum(position, len(old.pks) - 1)] == pks) if len(old.pks) \
        else np.zeros(len(pks), dtype=bool)
    matrix = old.vectors.copy()
    matrix[position[known]] = vectors[known]
    all_pks = np.concatenate([old.pks, pks[~known]])
    matrix = np.concatenate([matrix, vectors[~known]])
    order = np.argsort(all_pks, kind="stable")
    return _with(all_pks[order], matrix[order], stamp, old.built_at)


def _matrix() -> _Matrix:
    """The current matrix: rebuilt or topped up when the fingerprint table has changed."""
    global _current
    stamp = Fingerprint.objects.aggregate(last=Max("computed_at"))["last"]
    current = _current
    if stamp == current.stamp and current.stamp is not None:
        return current
    with _lock:
        current = _current
        if stamp == current.stamp and current.stamp is not None:
            return current
        # a stamp that moved back (a restore, a flushed table) or an old matrix: read everything again
        if (current.stamp is None or stamp is None or stamp < current.stamp
                or time.monotonic() - current.built_at > REBUILD_SECONDS):
            current = _with(*_read(None), stamp, time.monotonic())
        else:
            current = _merge(current, *_read(current.stamp - LATE_COMMIT_MARGIN), stamp)
        _current = current
        return current


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be an integer from 1 to {MAX_K}, not {k!r}")
    return int(k)


def _search(vector: np.ndarray, k: int, exclude_id: str | None) -> list[dict]:
    matrix = _matrix()
    margin = 1 + (exclude_id is not None)
    found: list[dict] = []
    want = k + margin
    while True:
        rows, distances = nearest(matrix.vectors, matrix.sq_norms, vector, want)
        pks = matrix.pks[rows]
        stored = {m["pk"]: m for m in Material.objects.filter(pk__in=pks.tolist(), fingerprint__version=FINGERPRINT_VERSION)
                  .annotate(stab=FilteredRelation("stabilities", condition=Q(stabilities__hull_set=HULL_SET)))
                  .values("pk", "material_id", "formula_reduced", "source", "stab__e_above_hull_ev_per_atom",
                          "fingerprint__vector")}
        # Each row is confirmed against the fingerprint stored now: a material deleted since the matrix was
        # built is skipped, and one whose row changed (or whose id was reused, after a restore) is measured anew.
        found = []
        for pk in pks.tolist():
            m = stored.get(pk)
            if m is None or m["material_id"] == exclude_id:
                continue
            distance = float(np.linalg.norm(from_bytes(bytes(m["fingerprint__vector"])) - vector))
            found.append({"material_id": m["material_id"], "formula": m["formula_reduced"], "distance": distance,
                          "e_above_hull_ev_per_atom": m["stab__e_above_hull_ev_per_atom"], "source": m["source"]})
        found.sort(key=lambda row: row["distance"])
        # look further if many rows were skipped
        if len(found) >= k or want >= len(matrix.pks):
            return found[:k]
        want *= 2


def similar_to_structure(structure: Structure, k: int = 5, *, exclude_id: str | None = None) -> list[dict]:
    """The ``k`` catalogue materials nearest to ``structure`` by fingerprint distance, closest first.

    Each row: ``material_id``, ``formula`` (reduced), ``distance`` (Euclidean distance of the fingerprints,
    unitless, 0 = the same fingerprint), ``e_above_hull_ev_per_atom`` (against the "all" hull, eV/atom; None
    where the material is not placed on it) and ``source``. ``exclude_id`` leaves that material out.

    Raises:
        TypeError: ``structure`` is not a pymatgen Structure.
        ValueError: ``k`` is not an integer from 1 to ``MAX_K``, or the structure cannot be fingerprinted
            (no sites, no volume).
    """
    if not isinstance(structure, Structure):
        raise TypeError(f"structure must be a pymatgen Structure, not {type(structure).__name__}")
    k = _check_k(k)
    return _search(fingerprint(structure), k, exclude_id)


def similar_to_material(material_id: str, k: int = 5) -> list[dict]:
    """``similar_to_structure`` of a stored material, the material itself left out; [] for a material without
    a structure (the energy-only hull phases of the Materials Project snapshot).

    Raises:
        UnknownMaterial: no material has this id.
        ValueError: ``k`` is out of range.
    """
    k = _check_k(k)
    found = Material.objects.filter(material_id=material_id)
    row = found.values("pk", "fingerprint__version", "fingerprint__vector").first()
    if row is None:
        raise UnknownMaterial(f"no material {material_id!r}")
    if row["fingerprint__version"] == FINGERPRINT_VERSION:
        vector = from_bytes(bytes(row["fingerprint__vector"]))
    else:  # not computed yet (compute_fingerprints): from the structure, read only now
        structure = found.values_list("structure", flat=True).first()
        if structure is None:
            return []
        vector = fingerprint(Structure.from_dict(structure))
    return _search(vector, k, material_id)
