"""A generated candidate crystal: its structure, how it was made and from what. Pure.

A candidate is cheap to make: it holds the lattice, species and fractional coordinates (arrays a substitution
shares with its seed, never copied) and builds a pymatgen Structure only when asked. Its ``key`` is a hash of
the structure (lattice and coordinates rounded), stable across processes, so that a discovery round can key
idempotent work by it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


def _unstable_elements() -> frozenset[str]:
    from pymatgen.core import Element

    return frozenset({"Tc", "Pm"} | {Element.from_Z(z).symbol for z in range(84, 104)})


# Elements with no stable isotope (Tc, Pm, and Po onwards: Po ... Lr, Th and U included), which a catalogue of
# materials one can make has no use for: no generator brings them into a candidate unless asked to.
UNSTABLE_ELEMENTS: frozenset[str] = _unstable_elements()


class GenerationError(ValueError):
    """A seed, composition or option a generator cannot take (the message says why)."""


@dataclass(frozen=True, eq=False)
class Candidate:
    lattice: np.ndarray  # (3, 3) Å, rows are lattice vectors
    species: tuple[str, ...]  # element symbols, one per site
    frac_coords: np.ndarray  # (n, 3)
    method: str  # "substitution", "saps" or "random"
    parent: str  # seed material id (substitution, saps) or the reduced formula (random structures)
    detail: dict = field(default_factory=dict)  # how: the species map, the sites replaced, the space group ...

    @cached_property
    def structure(self):
        from pymatgen.core import Lattice, Structure

        return Structure(Lattice(self.lattice), list(self.species), self.frac_coords)

    @cached_property
    def composition(self):
        from pymatgen.core import Composition

        counts: dict[str, int] = {}
        for symbol in self.species:
            counts[symbol] = counts.get(symbol, 0) + 1
        return Composition(counts)

    @property
    def reduced_formula(self) -> str:
        return self.composition.reduced_formula

    @cached_property
    def key(self) -> str:
        """A 16-hex hash of lattice, species and coordinates (1e-4 Å / 1e-5 rounding)."""
        digest = hashlib.sha256()
        digest.update(np.round(np.asarray(self.lattice, dtype=float), 4).tobytes())
        digest.update(",".join(self.species).encode())
        digest.update(np.round(np.mod(np.asarray(self.frac_coords, dtype=float), 1.0), 5).tobytes())
        return digest.hexdigest()[:16]

    def as_record(self) -> dict:
        """A JSON-able record (structure as a pymatgen dict) for jsonl output and storage."""
        return {"key": self.key, "method": self.method, "parent": self.parent, "reduced_formula": self.reduced_formula,
                "detail": self.detail, "structure": self.structure.as_dict()}


def from_structure(structure, method: str, parent: str, detail: dict | None = None) -> Candidate:
    """A candidate of a pymatgen Structure (ordered sites only)."""
    if not structure.is_ordered:
        raise GenerationError("disordered sites (partial occupancy): candidates are ordered crystals")
    return Candidate(structure.lattice.matrix.copy(), tuple(site.specie.symbol for site in structure),
                     structure.frac_coords.copy(), method, parent, dict(detail or {}))
