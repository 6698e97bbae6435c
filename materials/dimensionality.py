"""Dimensionality of a crystal by Cheon et al. (Nano Lett. 2017), as GNoME used it: pure, no Django.

The algorithm and every branch are those of ``pymatgen.analysis.dimensionality.get_dimensionality_cheon``
(tolerance 0.45 Å, Jmol radii, conventional standard cell, 2x2x2 then 3x3x3 supercells). Only the bond
search differs: pymatgen tests each pair of atoms in a Python double loop, which takes seconds for the
supercell of a 100-atom cell; here the same test (distance below r_i + r_j + tolerance for any of the 27
neighbouring images, strict) runs as numpy array operations, and clusters come from scipy's connected
components. The results are identical (tests compare both on real structures); benchmarks/screens.py
gives the speed-up.

Labels (``LABELS``, defined here once): '0D', '1D', '2D' (layered), '3D', 'intercalated ion', 'intercalated
molecule', or None where the algorithm gives no integer dimension; the catalogue stores that as 'undetermined'
(``STORED_LABELS`` are what a material's dimensionality may hold, "" aside: not computed).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
from pymatgen.core import Structure

TOLERANCE_A = 0.45

ZERO_D, ONE_D, LAYERED, THREE_D = "0D", "1D", "2D", "3D"
INTERCALATED_ION, INTERCALATED_MOLECULE = "intercalated ion", "intercalated molecule"
LABELS = (ZERO_D, ONE_D, LAYERED, THREE_D, INTERCALATED_ION, INTERCALATED_MOLECULE)  # what the algorithm gives
UNDETERMINED = "undetermined"  # stored where it gives none (no integer dimension, or the structure failed)
STORED_LABELS = (*LABELS, UNDETERMINED)


@lru_cache(maxsize=1)
def _jmol_radii() -> dict[str, float]:
    from pymatgen.analysis.local_env import JmolNN

    return JmolNN().el_radius


def _unit_bonds(structure: Structure, tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every bond i -> j + image of the cell: distance below r_i + r_j + tolerance (strict).

    Found with pymatgen's neighbour list (C code) within the longest possible bond, then tested pair by
    pair; images of the same atom count (they are different atoms of a supercell).
    """
    radii = _jmol_radii()
    # the element of each site (of its first species on a disordered site; oxidation states ignored)
    r = np.array([radii[getattr(sp, "element", sp).symbol] for sp in (site.species.elements[0] for site in structure)])
    longest = 2 * r.max() + tolerance
    centres, neighbours, images, distances = structure.get_neighbor_list(longest)
    keep = distances < r[centres] + r[neighbours] + tolerance
    return centres[keep], neighbours[keep], np.rint(images[keep]).astype(int)


def supercell_clusters(structure: Structure, scale: int, tolerance: float = TOLERANCE_A) -> tuple[int, int]:
    """(largest, smallest) bonded cluster of the ``scale``^3 supercell, as pymatgen's find_clusters.

    pymatgen builds the supercell and tests each pair of its atoms against the 27 neighbouring images of
    the supercell. The same bonds, without building it: atom (i, cell c) is bonded to (j, cell c') when
    i -> j + o is a bond of the unit cell with c' = c + o (mod scale) and (c + o) // scale in {-1, 0, 1}^3
    (o then is one of those 27 supercell images). (0, 1) when an atom is bonded to no other atom.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(structure)
    if n == 0:
        return 0, 0
    centres, neighbours, images = _unit_bonds(structure, tolerance)
    cells = np.array(list(itertools.product(range(scale), repeat=3)))  # (scale^3, 3)
    shifted = cells[None, :, :] + images[:, None, :]  # (bonds, cells, 3)
    wrap = np.floor_divide(shifted, scale)
    valid = (np.abs(wrap) <= 1).all(axis=-1)
    target_cells = shifted - wrap * scale
    ncell = scale**3

    def index(cell_xyz):
        return (cell_xyz[..., 0] * scale + cell_xyz[..., 1]) * scale + cell_xyz[..., 2]

    rows = (centres[:, None] * ncell + index(cells)[None, :])[valid]
    cols = (neighbours[:, None] * ncell + index(target_cells))[valid]
    distinct = rows != cols
    rows, cols = rows[distinct], cols[distinct]
    nodes = n * ncell
    if len(np.unique(np.concatenate([rows, cols]))) < nodes:
        return 0, 1
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(nodes, nodes)).tocsr()
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    return int(sizes.max()), int(sizes.min())


def cheon_dimensionality(structure: Structure, tolerance: float = TOLERANCE_A, standardize: bool = True) -> str | None:
    """Cheon et al. dimensionality of ``structure`` (the branches of pymatgen's implementation)."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    cell = SpacegroupAnalyzer(structure).get_conventional_standard_structure() if standardize else structure
    max1, min1 = supercell_clusters(cell, 1, tolerance)
    max2, min2 = supercell_clusters(cell, 2, tolerance)
    if min2 == 1:
        return INTERCALATED_ION
    if min2 == min1:
        return ZERO_D if max2 == max1 else INTERCALATED_MOLECULE
    if max1 == 0:
        return None  # pymatgen divides by zero here
    value = math.log2(max2 / max1)
    if value == int(value):
        return f"{int(value)}D"
    # pymatgen retries with a 3x3x3 supercell of the input (not the standardized) structure
    max3, min3 = supercell_clusters(structure, 3, tolerance)
    if min3 == min2:
        return ZERO_D if max3 == max2 else INTERCALATED_MOLECULE
    value = math.log2(max3 / max1) / math.log2(3)
    return f"{int(value)}D" if value == int(value) else None


def dimensionality_or_reason(structure_dict: dict) -> tuple[str, str]:
    """(label, '') or ('', why not): for batch workers, which must never raise."""
    try:
        label = cheon_dimensionality(Structure.from_dict(structure_dict))
    except Exception as exc:  # noqa: BLE001 - a batch reports the failure of one structure and goes on
        return "", f"{type(exc).__name__}: {exc}"[:300]
    return (label, "") if label else ("", "no integer dimension (Cheon algorithm)")


def label_item(item: tuple[int, dict]) -> tuple[int, str, str]:
    """(key, label, reason) of a (key, structure dict) pair: the unit of work of a batch."""
    key, structure = item
    label, reason = dimensionality_or_reason(structure)
    return key, label, reason
