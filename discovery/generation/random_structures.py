"""AIRSS-like random symmetric structures of a composition, pre-relaxed with soft spheres. Pure.

GNoME builds 100 "sensible" random structures per promising composition, at volumes from 0.4x to 1.2x an
estimate from atomic radii, relaxes them with soft-sphere potentials, then hands them to DFT. Here pyxtal places
the atoms on the Wyckoff positions of a random compatible space group inside a random lattice of the target
volume, and a pairwise repulsion relaxed with ASE's FIRE (cell fixed, so the sampled volume is kept) pushes
apart atoms that are still too close. Candidates that stay too close are dropped and counted, never yielded.

Numbers, measured on the first rows of the GNoME sample (real relaxed crystals):

- Volume estimate: sum of 4/3 pi r^3 over the atoms with pymatgen's ``Element.atomic_radius`` (Slater's
  empirical radii), divided by a packing fraction of 0.72. The real cell volume over that sphere volume has a
  median of 1.40 over the first 2000 rows (spread narrower than with covalent radii), so factor 1.0 is a typical
  real density. pyxtal's own default volumes are about 1.8x this estimate, which is why the volume is set here.
- Radii for distances: ASE's covalent radii (Cordero et al. 2008). In the first 300 real structures the
  smallest interatomic distance over the sum of the two covalent radii has median 0.85, 5th percentile 0.75 and
  minimum 0.68. So the soft spheres touch at 0.85 x (r_i + r_j), and a candidate is dropped if any distance
  (periodic images included) stays below ``min_separation`` = 0.6 x (r_i + r_j) after the pre-relaxation: below
  every real crystal seen; 0.75 would reject one real crystal in twenty.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_numbers, covalent_radii, missing
from ase.neighborlist import neighbor_list
from ase.optimize import FIRE
from pymatgen.core import Composition, Element

from .candidates import Candidate, GenerationError

PACKING_FRACTION = 0.72  # sphere volume / cell volume of a typical real crystal (see the module docstring)
SOFT_SPHERE_SCALE = 0.85  # soft spheres touch at this fraction of the covalent-radius sum
MIN_SEPARATION = 0.6  # the closest allowed distance, as a fraction of the covalent-radius sum


@dataclass
class RandomStructureStats:
    """What ``random_structures`` did: attempts made, and why attempts gave no candidate."""

    attempts: int = 0
    unbuildable: int = 0  # pyxtal could not place the atoms in the drawn space group at the drawn volume
    overlapping: int = 0  # still closer than the minimum separation after the pre-relaxation: dropped
    yielded: int = 0


class SoftSphereCalculator(Calculator):
    """Pairwise repulsion E = sum over pairs with d < d0 of epsilon (1 - d/d0)^2, d0 = scale x (r_i + r_j) with
    ASE's covalent radii, over a periodic neighbour list (periodic images included). Zero once no pair overlaps."""

    implemented_properties = ["energy", "forces"]

    def __init__(self, scale: float = SOFT_SPHERE_SCALE, epsilon: float = 1.0):
        super().__init__()
        self.scale = scale
        self.epsilon = epsilon

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        radii = self.scale * covalent_radii[self.atoms.numbers]
        # ordered pairs (each unordered pair twice) closer than radii[i] + radii[j]; D points from i to j
        i, j, d, vectors = neighbor_list("ijdD", self.atoms, radii)
        d0 = radii[i] + radii[j]
        overlap = 1.0 - d / d0
        forces = np.zeros((len(self.atoms), 3))
        # F_i = -dE/dr_i = (dE/dd) D/d, with dE/dd = -2 eps (1 - d/d0) / d0: pushes i away from j
        np.add.at(forces, i, (-2.0 * self.epsilon * overlap / (d0 * d))[:, None] * vectors)
        self.results = {"energy": 0.5 * self.epsilon * float(np.sum(overlap**2)), "forces": forces}


def estimated_volume(composition: Composition | str) -> float:
    """Cell volume per formula unit of ``composition`` (Å^3): its atoms' spheres (pymatgen atomic radii) over
    the packing fraction of a typical real crystal."""
    spheres = sum(amount * 4.0 / 3.0 * math.pi * _atomic_radius(element.symbol) ** 3
                  for element, amount in _parsed(composition).items())
    return spheres / PACKING_FRACTION


def soft_sphere_relax(atoms: Atoms, *, max_steps: int = 300, fmax: float = 1e-3) -> Atoms:
    """Relax positions (cell fixed) under ``SoftSphereCalculator`` with FIRE, in place, for at most
    ``max_steps`` steps; returns the same Atoms."""
    atoms.calc = SoftSphereCalculator()
    FIRE(atoms, logfile=None).run(fmax=fmax, steps=max_steps)
    atoms.calc = None
    return atoms


def too_close(atoms: Atoms, min_separation: float = MIN_SEPARATION) -> bool:
    """Whether any two atoms (periodic images included) are closer than ``min_separation`` x the sum of their
    covalent radii."""
    radii = min_separation * covalent_radii[atoms.numbers]
    return len(neighbor_list("i", atoms, radii)) > 0


def random_structures(composition: Composition | str, n: int = 100, *, seed: int = 0,
                      volume_factors: tuple[float, float] = (0.4, 1.2), max_formula_units: int = 4,
                      max_attempts: int | None = None, min_separation: float = MIN_SEPARATION,
                      max_steps: int = 300, stats: RandomStructureStats | None = None) -> Iterator[Candidate]:
    """Up to ``n`` random symmetric structures of ``composition``, streamed; fewer if ``max_attempts`` (default
    4 n) run out.

    Attempt ``i`` draws from its own generator (seeded by ``seed`` and ``i``, so attempts are reproducible one
    by one): Z formula units (1 .. ``max_formula_units``, in pyxtal's conventional cell), a space group among
    those whose Wyckoff positions can hold Z formula units, and a volume factor f uniform in
    ``volume_factors``; the cell volume is f x Z x ``estimated_volume``. pyxtal fills the group (an attempt it
    cannot fill is skipped), the soft-sphere pre-relaxation runs, and a structure still closer than
    ``min_separation`` is dropped. ``stats``, if given, is updated as attempts go.

    Candidates: method "random", parent the reduced formula, detail {"space_group", "formula_units",
    "volume_factor", "attempt"}.
    """
    reduced = _parsed(composition).reduced_composition
    species = tuple(element.symbol for element in reduced)
    for symbol in species:
        _covalent_radius(symbol)  # elements without the radii fail here, before any attempt
    low, high = _checked_factors(volume_factors)
    attempts = 4 * n if max_attempts is None else max_attempts
    for name, value, least in (("n", n, 0), ("seed", seed, 0), ("max_formula_units", max_formula_units, 1),
                               ("max_attempts", attempts, 0), ("max_steps", max_steps, 0)):
        if not isinstance(value, int) or value < least:
            raise GenerationError(f"{name} must be an integer >= {least}, not {value!r}")
    if not min_separation > 0:
        raise GenerationError(f"min_separation must be positive, not {min_separation!r}")
    plan = _Plan(reduced.reduced_formula, species, _integer_amounts(reduced), estimated_volume(reduced), n, seed,
                 low, high, max_formula_units, attempts, min_separation, max_steps)
    return _generated(plan, stats if stats is not None else RandomStructureStats())


@dataclass(frozen=True)
class _Plan:
    """The checked arguments of one ``random_structures`` call."""

    formula: str
    species: tuple[str, ...]
    amounts: tuple[int, ...]
    per_formula_unit: float  # estimated volume, Å^3
    n: int
    seed: int
    low: float
    high: float
    max_formula_units: int
    attempts: int
    min_separation: float
    max_steps: int


def _generated(plan: _Plan, stats: RandomStructureStats) -> Iterator[Candidate]:
    """The attempts themselves, after the arguments were checked (so bad ones fail at the call, not later)."""
    yielded = 0
    for attempt in range(plan.attempts):
        if yielded >= plan.n:
            return
        stats.attempts += 1
        rng = np.random.default_rng([plan.seed, attempt])
        units = int(rng.integers(1, plan.max_formula_units + 1))
        num_ions = tuple(amount * units for amount in plan.amounts)
        group = int(rng.choice(_compatible_groups(num_ions)))
        factor = float(rng.uniform(plan.low, plan.high))
        atoms = _pyxtal_atoms(group, plan.species, num_ions, factor * units * plan.per_formula_unit, rng)
        if atoms is None:
            stats.unbuildable += 1
            continue
        soft_sphere_relax(atoms, max_steps=plan.max_steps)
        if too_close(atoms, plan.min_separation):
            stats.overlapping += 1
            continue
        stats.yielded += 1
        yielded += 1
        yield Candidate(atoms.cell.array.copy(), tuple(atoms.get_chemical_symbols()),
                        atoms.get_scaled_positions(wrap=True), "random", plan.formula,
                        {"space_group": group, "formula_units": units, "volume_factor": factor, "attempt": attempt})


def _pyxtal_atoms(group: int, species: tuple[str, ...], num_ions: tuple[int, ...], volume: float,
                  rng: np.random.Generator) -> Atoms | None:
    """pyxtal's random crystal in space group ``group`` with ``num_ions`` of ``species`` in a random lattice of
    ``volume`` (rescaled to it exactly: pyxtal may redraw the lattice between its tries), or None if it
    cannot place the atoms."""
    from pyxtal import pyxtal
    from pyxtal.lattice import Lattice
    from pyxtal.msg import Error as PyxtalError

    crystal = pyxtal()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lattice = Lattice(_group(group).lattice_type, volume, random_state=rng)
            crystal.from_random(3, group, list(species), list(num_ions), lattice=lattice, random_state=rng, max_count=1)
        except (RuntimeError, ValueError, PyxtalError):
            return None
    atoms = crystal.to_ase()
    atoms.set_cell(atoms.cell.array * (volume / atoms.get_volume()) ** (1.0 / 3.0), scale_atoms=True)
    return atoms


@cache
def _group(number: int):
    from pyxtal.symmetry import Group

    return Group(number)


@lru_cache(maxsize=4096)
def _compatible_groups(num_ions: tuple[int, ...]) -> tuple[int, ...]:
    """The space groups whose Wyckoff positions can hold these numbers of atoms (P1 always can)."""
    return tuple(number for number in range(1, 231) if _group(number).check_compatible(list(num_ions))[0])


def _parsed(composition: Composition | str) -> Composition:
    try:
        parsed = composition if isinstance(composition, Composition) else Composition(composition)
    except (ValueError, KeyError, TypeError) as exc:
        raise GenerationError(f"not a composition: {composition!r} ({exc})") from exc
    if len(parsed) == 0:
        raise GenerationError(f"empty composition: {composition!r}")
    for species in parsed:
        symbol = getattr(species, "symbol", str(species))
        if not Element.is_valid_symbol(symbol):
            raise GenerationError(f"not a composition of elements: {composition!r} ({symbol} is no element)")
    return parsed.element_composition


def _integer_amounts(reduced: Composition) -> tuple[int, ...]:
    amounts = []
    for element, amount in reduced.items():
        if abs(amount - round(amount)) > 1e-8:
            raise GenerationError(f"composition {reduced.formula!r}: amount of {element} must be an integer, "
                                  f"not {amount}")
        amounts.append(round(amount))
    return tuple(amounts)


def _checked_factors(volume_factors: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(f) for f in volume_factors)
    except (TypeError, ValueError) as exc:
        raise GenerationError(f"volume_factors must be two numbers (low, high), not {volume_factors!r}") from exc
    if not 0 < low <= high:
        raise GenerationError(f"volume_factors must satisfy 0 < low <= high, not {volume_factors!r}")
    return low, high


def _atomic_radius(symbol: str) -> float:
    element = Element(symbol)
    radius = element.atomic_radius or element.atomic_radius_calculated
    if radius is None:
        raise GenerationError(f"no atomic radius for {symbol}: cannot estimate a volume")
    return float(radius)


def _covalent_radius(symbol: str) -> float:
    radius = float(covalent_radii[atomic_numbers[symbol]])
    if radius == missing:
        raise GenerationError(f"no covalent radius for {symbol}: cannot judge its distances")
    return radius
