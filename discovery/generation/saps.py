"""Symmetry-aware partial substitutions (SAPS, GNoME): replace some, not all, sites of one ion. Pure.

Substituting whole species of an A2B2X6 perovskite never gives the double perovskite A2BB'X6; replacing one of
the two B sites does. For an ion X of the seed and a replacement X2 (from the single-ion substitution
probabilities of ``substitution``), SAPS replaces k = 1 .. n_X of X's sites, one candidate per symmetry-distinct
subset ("at each level we only consider unique symmetry groupings").

Subsets are distinct under the seed's space-group operations in the given cell (spglib through
``SpacegroupAnalyzer``, including the pure translations of a supercell), turned into permutations of the site
indices. Orbit representatives are enumerated by orderly generation: the representative of an orbit is its
lexicographically smallest sorted index tuple, and a size-(k+1) representative minus its largest index is
again a representative (if a group image of the prefix were smaller, the same image of the whole set would be
too). So the representatives of size k+1 are exactly the canonical one-index extensions of those of size k, and
the enumeration visits only representatives: its cost grows with the number of orbits, not with C(n, k).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from itertools import islice

import numpy as np
from pymatgen.core import Species, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from discovery.generation.candidates import Candidate, GenerationError
from discovery.generation.substitution import (
    DEFAULT_THRESHOLD,
    DEFAULT_VOLUME,
    check_volume,
    is_charge_balanced,
    scaled_lattice,
    seed_sites,
    shared_geometry,
    single_replacements,
    volume_ratio,
)

__all__ = [
    "DEFAULT_MAX_PER_SEED",
    "DEFAULT_SYMPREC",
    "saps",
    "site_permutations",
    "symmetry_distinct_subsets",
]

DEFAULT_SYMPREC = 0.1  # Å, spglib's distance tolerance for the seed's symmetry
DEFAULT_MAX_PER_SEED = 200  # candidates per seed unless the caller asks for another cap


def site_permutations(structure: Structure, seed_id: str, symprec: float = DEFAULT_SYMPREC) -> np.ndarray:
    """The seed's symmetry operations as permutations of its site indices, in the given cell.

    Row ``g`` maps site ``i`` to site ``perm[g, i]``: the site of the same element nearest to the image of site
    ``i`` under operation ``g``. The nearest site must lie within ``2 * symprec`` Å (spglib accepts an operation
    when images land within about ``symprec`` of a site; the factor 2 allows for the operation's own rounding),
    and the mapping must be a bijection. Duplicate rows are removed; the identity is always a row.

    Raises:
        GenerationError: spglib finds no symmetry, or an operation does not map the sites onto themselves.
    """
    operations = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetry_operations(cartesian=False)
    if not operations:
        raise GenerationError(f"seed {seed_id}: spglib found no symmetry operations (symprec {symprec} Å)")
    frac = structure.frac_coords
    lattice = structure.lattice.matrix
    symbols = np.array([site.specie.symbol for site in structure])
    different_element = symbols[:, None] != symbols[None, :]
    rows = [np.arange(len(structure))]
    for operation in operations:
        images = frac @ operation.rotation_matrix.T + operation.translation_vector
        offsets = images[:, None, :] - frac[None, :, :]
        offsets -= np.round(offsets)
        distances = np.linalg.norm(offsets @ lattice, axis=-1)
        distances[different_element] = np.inf
        perm = distances.argmin(axis=1)
        worst = distances[np.arange(len(perm)), perm].max()
        if worst > 2 * symprec or len(np.unique(perm)) != len(perm):
            raise GenerationError(
                f"seed {seed_id}: a symmetry operation does not map the sites onto themselves "
                f"(worst distance {worst:.3f} Å, symprec {symprec} Å)"
            )
        rows.append(perm)
    return np.unique(np.array(rows), axis=0)


def _canonical(group: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    """For each sorted subset (row), whether no group image of it is lexicographically smaller."""
    images = np.sort(group[:, subsets], axis=-1)  # (operations, subsets, k)
    differences = images - subsets[None, :, :]
    differs = differences != 0
    first = differs.argmax(axis=-1)
    leading = np.take_along_axis(differences, first[..., None], axis=-1)[..., 0]
    smaller = differs.any(axis=-1) & (leading < 0)
    return ~smaller.any(axis=0)


def _representatives_of_size(group: np.ndarray, k: int) -> Iterator[tuple[int, ...]]:
    """Canonical k-subsets of ``range(n)`` under ``group`` (rows: permutations of ``range(n)``), lexicographic.

    Depth-first over canonical prefixes; each node is extended by every index above its largest that still
    leaves room for a k-subset, and only canonical extensions are kept (see the module docstring).
    """
    n = group.shape[1]
    stack: list[tuple[int, ...]] = [()]
    while stack:
        prefix = stack.pop()
        if len(prefix) == k:
            yield prefix
            continue
        start = prefix[-1] + 1 if prefix else 0
        stop = n - (k - len(prefix)) + 1
        if start >= stop:
            continue
        children = np.array([(*prefix, index) for index in range(start, stop)])
        kept = children[_canonical(group, children)]
        stack.extend(tuple(int(i) for i in child) for child in kept[::-1])


def symmetry_distinct_subsets(
    permutations: np.ndarray, sites: Sequence[int], max_k: int | None = None
) -> Iterator[tuple[int, ...]]:
    """One subset of ``sites`` per orbit under the permutations, by size 1 .. ``max_k`` (default: all of them).

    Args:
        permutations: rows are permutations of all site indices (``site_permutations``, a group). Only those that
            map ``sites`` onto itself are used: they form a subgroup (the set's stabiliser), which is all of the
            group for the sites of one element, and less when one element carries two valences on sites of one
            orbit (the bond-valence analysis can split them so).
        sites: the site indices to choose from.
        max_k: the largest subset size.

    Yields:
        Sorted tuples of site indices, the lexicographically smallest of each orbit, smaller sizes first and
        lexicographic within a size.
    """
    sites = sorted(sites)
    local = np.full(permutations.shape[1], -1)
    local[sites] = np.arange(len(sites))
    images = local[permutations[:, sites]]
    group = np.unique(images[(images >= 0).all(axis=1)], axis=0)
    top = len(sites) if max_k is None else min(max_k, len(sites))
    for k in range(1, top + 1):
        for subset in _representatives_of_size(group, k):
            yield tuple(sites[i] for i in subset)


def saps(
    seed_structure: Structure,
    seed_id: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    symprec: float = DEFAULT_SYMPREC,
    max_per_seed: int | None = DEFAULT_MAX_PER_SEED,
    max_k: int | None = None,
    charge_balance: bool = False,
    sign_change: bool = False,
    allowed: Collection[str] | None = None,
    volume: str = DEFAULT_VOLUME,
) -> Iterator[Candidate]:
    """Candidates of the seed with 1 .. n_X sites of one ion X replaced by X2, one per symmetry-distinct subset.

    Replacements ``(X, X2)`` come from ``single_replacements`` (single-ion probability above ``threshold``),
    one per element of X2 (its most probable oxidation state), and are taken most probable first across all
    ions (ties by string forms); for each, subsets come by size k ascending, then lexicographically. The full
    replacement k = n_X is kept, as GNoME went "from 1 to all atoms of the candidate ion": it is the crystal of
    the single-ion substitution and carries the same ``key``, so a key-keyed store holds it once. It is skipped
    when X2's element is already in the seed, where the substitution model drops a mapping of two ions onto one.

    Args:
        seed_structure: an ordered seed crystal; its geometry is kept unrelaxed and shared by the candidates.
        seed_id: the seed's material id, recorded as each candidate's parent.
        threshold: replacements at or below this single-ion probability are not made.
        symprec: spglib's tolerance (Å) for the seed's symmetry.
        max_per_seed: stop after this many candidates (``None``: no cap).
        max_k: replace at most this many sites (``None``: up to all of X's sites).
        charge_balance: keep only neutral products; the seed's valences being neutral, that means X2 has X's
            oxidation state. Needs oxidation states.
        sign_change, allowed, volume: as for ``substitution.substitutions`` (a seed without oxidation states
            replaces elements, from the element-level table; the rescaled volume counts the replaced sites).

    Yields:
        ``Candidate`` with method ``"saps"``, parent ``seed_id`` and detail ``{"from": "Ti4+", "to": "Zr4+",
        "sites": [indices], "k": k, "probability": p, "level": "ion" | "element"}``, p being the single-ion
        probability of X -> X2.

    Raises:
        GenerationError: a disordered seed, its symmetry cannot be found, an unknown ``volume``, or
            ``charge_balance`` on a seed without oxidation states.
    """
    check_volume(volume)
    site_ions, level = seed_sites(seed_structure, seed_id, threshold=threshold, sign_change=sign_change)
    if charge_balance and level == "element":
        raise GenerationError(f"seed {seed_id} ({seed_structure.composition.reduced_formula}): charge balance "
                              "needs oxidation states, and none can be assigned")
    seed_elements = {ion.symbol for ion in site_ions}
    pairs = []
    for original, replacements in single_replacements(site_ions, threshold, sign_change=sign_change,
                                                      allowed=allowed).items():
        elements_taken = set()
        for new, probability in replacements:
            if new.symbol in elements_taken:
                continue
            if charge_balance and not is_charge_balanced(new.oxi_state - original.oxi_state):
                continue
            elements_taken.add(new.symbol)
            pairs.append((original, new, probability))
    if not pairs:
        return
    pairs.sort(key=lambda pair: (-pair[2], str(pair[0]), str(pair[1])))
    permutations = site_permutations(seed_structure, seed_id, symprec)
    lattice, frac_coords = shared_geometry(seed_structure)
    symbols = [ion.symbol for ion in site_ions]
    sites_of = {ion: [i for i, site_ion in enumerate(site_ions) if site_ion == ion] for ion in dict.fromkeys(site_ions)}
    counts = {ion: len(sites) for ion, sites in sites_of.items()}
    cached: dict[Species, list[tuple[int, ...]]] = {}

    def representatives(ion: Species) -> Iterator[tuple[int, ...]] | list[tuple[int, ...]]:
        # Under a cap, no ion needs more representatives than the cap: keep them for the ion's next replacement.
        subsets = symmetry_distinct_subsets(permutations, sites_of[ion], max_k)
        if max_per_seed is None:
            return subsets
        if ion not in cached:
            cached[ion] = list(islice(subsets, max_per_seed))
        return cached[ion]

    yielded = 0
    for original, new, probability in pairs:
        n_sites = len(sites_of[original])
        for subset in representatives(original):
            if max_per_seed is not None and yielded >= max_per_seed:
                return
            if len(subset) == n_sites and new.symbol in seed_elements:
                continue
            species = list(symbols)
            for index in subset:
                species[index] = new.symbol
            detail = {"from": str(original), "to": str(new), "sites": list(subset), "k": len(subset),
                      "probability": probability, "level": level}
            cell = lattice
            if volume == "rescaled":  # the k replaced sites become the new species, the n - k others stay
                after = {**counts, original: n_sites - len(subset)}
                after[new] = after.get(new, 0) + len(subset)
                factor = volume_ratio(counts, after)
                cell, detail["volume_factor"] = scaled_lattice(lattice, factor), round(factor, 6)
            yield Candidate(cell, tuple(species), frac_coords, "saps", seed_id, detail)
            yielded += 1
