"""Textbook Li compounds whose ionic conduction is known, to calibrate the MD conductivity screen: pure.

The GNoME sample holds new crystals only, and the Materials Project snapshot holds energies without
structures, so the classic non-conductors (Li2O, LiF) and a classic fast conductor (Li3N) are not in our
data. Their structures are simple and fixed by symmetry: each is built here from its space group, its
Wyckoff positions and its room-temperature lattice constant, as a crystallography table gives them.

What is known of each (room temperature unless said):

- ``Li2O``: antifluorite, Fm-3m, a = 4.619 A. A poor conductor, about 1e-9 S/cm at 300 K with
  ~0.8-1 eV activation through thermal vacancies; its superionic transition lies near 1200 K, and a
  defect-free crystal has no vacancy to hop into on an MD time scale below it.
- ``LiF``: rock salt, Fm-3m, a = 4.027 A. An insulator and a poor ionic conductor (1e-9 to 1e-12 S/cm).
- ``Li3N``: P6/mmm, a = 3.648 A, c = 3.875 A; N at 1a, Li(1) at 1b between the Li2N layers, Li(2) at 2c
  in them. A fast Li conductor, about 1e-3 S/cm within the layers at 300 K.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    name: str
    space_group: str
    lattice: tuple[float, ...]  # cubic (a,) or hexagonal (a, c), in angstrom
    species: tuple[str, ...]
    coords: tuple[tuple[float, float, float], ...]  # one representative site per Wyckoff orbit
    conductor: bool  # known to conduct Li ions fast (True) or poorly (False)
    note: str

    def structure(self):
        from pymatgen.core import Lattice, Structure

        if len(self.lattice) == 1:
            lattice = Lattice.cubic(self.lattice[0])
        else:
            lattice = Lattice.hexagonal(*self.lattice)
        return Structure.from_spacegroup(self.space_group, lattice, list(self.species), [list(c) for c in self.coords])


REFERENCES = {
    ref.name: ref
    for ref in (
        Reference("Li2O", "Fm-3m", (4.619,), ("Li", "O"), ((0.25, 0.25, 0.25), (0, 0, 0)), False,
                  "antifluorite; poor conductor below its ~1200 K superionic transition"),
        Reference("LiF", "Fm-3m", (4.027,), ("Li", "F"), ((0, 0, 0), (0.5, 0.5, 0.5)), False,
                  "rock salt; poor conductor"),
        Reference("Li3N", "P6/mmm", (3.648, 3.875), ("N", "Li", "Li"),
                  ((0, 0, 0), (0, 0, 0.5), (1 / 3, 2 / 3, 0)), True,
                  "layered nitride; fast conductor (~1e-3 S/cm at 300 K)"),
    )
}


def reference(name: str):
    """The reference crystal ``name`` as a pymatgen Structure (its conventional cell)."""
    try:
        return REFERENCES[name].structure()
    except KeyError:
        raise KeyError(f"no reference crystal {name!r}: one of {', '.join(REFERENCES)}") from None
