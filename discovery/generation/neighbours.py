"""Element swaps of a seed crystal: one element replaced, on every site it holds, by a chemically close element.
Pure.

The close elements are those of ``materials.scale.substitutes``: the same group one period up or down and, in
the d and f blocks, the neighbours in the period (Li -> Na, S -> Se, Al -> Ga, Fe -> Co ...). This is the
substitution a chemist makes first, and it needs no oxidation states, so metals and intermetallics seed it as
well as ionic crystals. Replacing every site of an element by one the crystal lacks keeps every symmetry
operation of the seed; the geometry is the seed's, unrelaxed, as the screening model sees every candidate.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from pymatgen.core import Structure

from discovery.generation.candidates import UNSTABLE_ELEMENTS, Candidate, GenerationError
from discovery.generation.substitution import DEFAULT_VOLUME

__all__ = ["neighbour_swaps"]


def neighbour_swaps(seed_structure: Structure, seed_id: str, *, allowed: Collection[str] | None = None,
                    volume: str = DEFAULT_VOLUME, limit: int | None = None) -> Iterator[Candidate]:
    """Candidates of the seed with one element swapped for a close one, nearest in Z first.

    Args:
        seed_structure: an ordered seed crystal.
        seed_id: recorded as each candidate's parent.
        allowed: the elements a swap may bring in (e.g. those with an elemental reference); None: any up to Z=94
            but ``UNSTABLE_ELEMENTS``.
        volume: ``"seed"`` keeps the seed's cell; ``"rescaled"`` scales it to the volume the new element implies
            (``substitution.volume_ratio``, atomic radii).
        limit: stop after this many candidates.

    Yields:
        ``Candidate`` with method ``"neighbour"`` and detail ``{"map": {"S": "Se"}}``.

    Raises:
        GenerationError: a disordered seed.
    """
    from pymatgen.core import Element

    from discovery.generation.substitution import check_volume, scaled_lattice, volume_ratio
    from materials.scale import substitutes

    check_volume(volume)
    if not seed_structure.is_ordered:
        raise GenerationError(f"{seed_id}: disordered sites (partial occupancy) cannot seed a swap")
    symbols = [site.specie.symbol for site in seed_structure]
    present = set(symbols)
    lattice, coords = seed_structure.lattice.matrix, seed_structure.frac_coords
    made = 0
    for old in sorted(present):
        for new in substitutes(old):
            if new in present or (new not in allowed if allowed is not None else new in UNSTABLE_ELEMENTS):
                continue
            detail, cell = {"map": {old: new}}, lattice
            if volume == "rescaled":
                counts = {Element(e): symbols.count(e) for e in present}
                factor = volume_ratio(counts, {(Element(new) if e.symbol == old else e): n for e, n in counts.items()})
                cell, detail["volume_factor"] = scaled_lattice(lattice, factor), round(factor, 6)
            yield Candidate(cell, tuple(new if s == old else s for s in symbols), coords, "neighbour", seed_id,
                            detail)
            made += 1
            if limit is not None and made >= limit:
                return
