"""Convex hull of formation energies: the stability of catalogue entries and of hypothetical ones.

Pure science: nothing here imports Django. Entries go in as ``(entry_id, composition, energy_ev)``
triples with the elemental references; plain dataclasses come out.

Units and conventions
---------------------
- ``energy_ev``: corrected total energy (MP2020 scale) of the cell that ``composition`` writes, in eV.
- ``refs``: element symbol -> chemical potential mu in eV/atom (the fixed elemental references).
- Formation energy, eV/atom: ``(E - sum_i n_i * mu_i) / N``.
- The hull is built in formation-energy space. The terminal point of an element is its reference
  (0 eV/atom), unless an entry of that element lies at or below the reference (within
  ``REFERENCE_MATCH_TOL_EV_PER_ATOM``, e.g. the reference material itself): then that entry is the
  terminal point. An element without a reference is never given a made-up one: entries that contain
  it are "not placed", with the reason.
- Energies above the hull and phase-separation energies are in eV/atom. Decomposition fractions are
  atomic fractions and sum to 1, as in pymatgen's ``PhaseDiagram.get_decomposition``.
- Stable means an energy above the hull of at most ``STABILITY_TOL_EV_PER_ATOM`` (GNoME's tolerance),
  up to floating-point rounding (``ROUNDING_EV_PER_ATOM``).
- A chemical system ("chemsys") is its sorted element symbols joined by "-", e.g. "Fe-Li-O-P".

How a whole catalogue is computed
---------------------------------
The place of an entry depends only on the entries of its chemical system and of its subsystems, and
of a subsystem only its hull vertices matter: the hull restricted to a face of the composition
simplex is the hull of that face's points. ``compute_hull`` therefore processes the systems in
increasing number of elements and keeps the vertices of each; a system's points are its terminal
points, its subsystems' vertices and the lowest entry of each of its own compositions, a few dozen
instead of every entry of every subset. An own point is a vertex exactly when it lies below the hull
of the other points at its composition; that hull energy, found by a small linear program, is also
its phase-separation energy's reference. Only where an entry lies off the hull is the hull itself
built (``scipy.spatial.ConvexHull``, as pymatgen does), for its decomposition. Results agree with
pymatgen's ``PhaseDiagram`` built from all subset entries to better than 1e-6 eV/atom.
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from pymatgen.core import Composition, Element
from pymatgen.core.periodic_table import DummySpecies
from scipy.spatial import ConvexHull

from materials.chemsys import normalise_chemsys, subsystems, subsystems_of

__all__ = [
    "FORMATION_TOL_EV_PER_ATOM",
    "REFERENCE_MATCH_TOL_EV_PER_ATOM",
    "ROUNDING_EV_PER_ATOM",
    "STABILITY_TOL_EV_PER_ATOM",
    "EntryStability",
    "HullEntry",
    "HullIndex",
    "HullResult",
    "NotPlaceableError",
    "QueryResult",
    "affected_chemsys",
    "compute_hull",
    "is_stable_energy",
    "reference_id",
]

STABILITY_TOL_EV_PER_ATOM = 5e-5
"""An entry at most this far above the hull (eV/atom) is stable (GNoME's threshold).

It is compared with an allowance of ``ROUNDING_EV_PER_ATOM``: GNoME's energies are published to
1e-4 eV/atom, so entries lying exactly 5e-5 eV/atom above the hull are common (94 in the shared
data), and floating-point rounding of order 1e-13 must not decide on which side they fall."""

ROUNDING_EV_PER_ATOM = 1e-9
"""Energies (eV/atom) closer than this are taken as equal when compared with a threshold."""

REFERENCE_MATCH_TOL_EV_PER_ATOM = ROUNDING_EV_PER_ATOM
"""An elemental entry at most this far above its reference (eV/atom) is taken as the terminal point."""

FORMATION_TOL_EV_PER_ATOM = 1e-11
"""How far (eV/atom) a compound must lie below the plane of its terminal points to enter a hull
(pymatgen's ``PhaseDiagram.formation_energy_tol``), and below the hull of the other points to be a
vertex of it."""

_DECOMPOSITION_TOL = 1e-8  # decomposition fractions at or below this are dropped (pymatgen's numerical_tol)
_FACET_TOL = 1e-9  # eV/atom and fraction slack when choosing the facet under a composition
_VERTICAL_TOL = 1e-9  # a facet whose unit normal has an energy component above -this is not a lower facet
_PIVOT_TOL = 1e-12  # eV/atom below the current plane for a point to enter; also the fraction pivot threshold
_MAX_PIVOTS_PER_POINT = 10  # a guard only: in practice the simplex method takes a few pivots per element

Array = npt.NDArray[np.float64]


class HullEntry(NamedTuple):
    """One energy to place: an id, a composition (pymatgen or formula) and its total energy in eV."""

    entry_id: str
    composition: Composition | str
    energy_ev: float


class NotPlaceableError(ValueError):
    """A well-formed entry that cannot be put on a hull: an element without reference, no finite energy."""


@dataclass(frozen=True, slots=True)
class EntryStability:
    """Where one entry stands against the hull of its chemical system.

    Attributes:
        entry_id: The entry's id.
        chemsys: Its chemical system, e.g. "Li-O-P".
        e_form_ev_per_atom: Formation energy from the elemental references, eV/atom.
        e_above_hull_ev_per_atom: Energy above the hull, eV/atom (0 for a hull vertex).
        decomposition: ``(entry_id, atomic fraction)`` pairs of the hull phases at this composition,
            largest fraction first; a hull vertex decomposes to itself. A terminal point that is a
            bare reference is named ``reference_id(element)``.
        phase_separation_ev_per_atom: pymatgen's ``get_decomp_and_phase_separation_energy(entry)[1]``,
            eV/atom: where the lowest entry of this composition is a hull vertex, the entry's energy
            relative to the hull built without every entry of its reduced composition (negative for a
            stable compound); otherwise the energy above the hull. For elemental entries it is the
            energy above the hull, as in pymatgen.
        on_hull: Whether the entry is a vertex of the hull (the lowest entry of its composition; exact
            ties go to the smallest entry id).
    """

    entry_id: str
    chemsys: str
    e_form_ev_per_atom: float
    e_above_hull_ev_per_atom: float
    decomposition: tuple[tuple[str, float], ...]
    phase_separation_ev_per_atom: float
    on_hull: bool

    @property
    def is_stable(self) -> bool:
        """Energy above the hull at most ``STABILITY_TOL_EV_PER_ATOM`` (up to rounding)."""
        return is_stable_energy(self.e_above_hull_ev_per_atom)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Where a hypothetical entry would stand against the current hull (the entry itself not added).

    Attributes:
        chemsys: Its chemical system.
        e_form_ev_per_atom: Formation energy from the elemental references, eV/atom.
        e_above_hull_ev_per_atom: Energy above the hull, eV/atom; negative when below it.
        decomposition: ``(entry_id, atomic fraction)`` pairs of the hull phases at this composition.
    """

    chemsys: str
    e_form_ev_per_atom: float
    e_above_hull_ev_per_atom: float
    decomposition: tuple[tuple[str, float], ...]

    @property
    def is_stable(self) -> bool:
        """Energy above the hull at most ``STABILITY_TOL_EV_PER_ATOM`` (up to rounding)."""
        return is_stable_energy(self.e_above_hull_ev_per_atom)


def is_stable_energy(e_above_hull_ev_per_atom: float | None) -> bool:
    """The one stability predicate (the engine, the rounds and the screening figures use it): at most
    ``STABILITY_TOL_EV_PER_ATOM`` above the hull, up to rounding; no placement (None) is not stable."""
    return e_above_hull_ev_per_atom is not None and e_above_hull_ev_per_atom <= STABILITY_TOL_EV_PER_ATOM + \
        ROUNDING_EV_PER_ATOM


def reference_id(element: str) -> str:
    """The id that names a bare elemental reference (no entry of its own) in decompositions."""
    return f"ref:{element}"


# ---- entries on the formation-energy scale --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Point:
    """An entry on the formation-energy scale: sorted elements, atomic fractions, eV/atom."""

    entry_id: str
    elements: tuple[str, ...]
    fractions: tuple[float, ...]
    e_form: float

    @property
    def chemsys(self) -> str:
        return "-".join(self.elements)

    @property
    def composition_key(self) -> tuple[float, ...]:
        """Identifies the reduced composition within a chemical system."""
        return tuple(round(x, 9) for x in self.fractions)


def _element_amounts(composition: Composition | str) -> dict[str, float]:
    """Element symbol -> amount, with a ValueError naming an unparsable formula or unknown element."""
    if isinstance(composition, Composition):
        comp = composition
    elif isinstance(composition, str) and composition.strip():
        try:
            comp = Composition(composition)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"unparsable formula {composition!r}: {exc}") from None
    else:
        raise ValueError(f"unparsable formula {composition!r}: expected a non-empty formula or a Composition")
    amounts: dict[str, float] = {}
    for species, amount in comp.items():
        if isinstance(species, DummySpecies) or not Element.is_valid_symbol(species.symbol):
            raise ValueError(f"unknown element {species.symbol!r} in formula {str(composition)!r}")
        amounts[species.symbol] = amounts.get(species.symbol, 0.0) + amount
    if not amounts or sum(amounts.values()) <= 0:
        raise ValueError(f"formula {str(composition)!r} has no atoms")
    return amounts


def _point(entry_id: str, composition: Composition | str, energy_ev: float, refs: Mapping[str, float]) -> _Point:
    """Put one entry on the formation-energy scale.

    Raises:
        ValueError: unparsable formula or unknown element.
        NotPlaceableError: an element without reference, or an energy that is not a finite number.
    """
    return _place(entry_id, _element_amounts(composition), str(composition), energy_ev, refs)


def _place(
    entry_id: str, amounts: Mapping[str, float], formula: str, energy_ev: float, refs: Mapping[str, float]
) -> _Point:
    """``_point`` on parsed amounts (element symbol -> atoms in the cell whose energy is ``energy_ev``)."""
    elements = tuple(sorted(amounts))
    missing = [el for el in elements if el not in refs]
    if missing:
        raise NotPlaceableError(f"no elemental reference for {', '.join(missing)}: {formula} cannot be placed on a hull")
    energy = _as_energy(energy_ev, formula)
    atoms = sum(amounts.values())
    fractions = tuple(amounts[el] / atoms for el in elements)
    e_form = energy / atoms - sum(x * refs[el] for x, el in zip(fractions, elements, strict=True))
    return _Point(str(entry_id), elements, fractions, e_form)


def _as_energy(value: float | None, formula: str) -> float:
    """A finite energy as float, or NotPlaceableError naming the formula."""
    try:
        energy = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NotPlaceableError(f"energy is not a number: {value!r} for {formula}") from None
    if not math.isfinite(energy):
        raise NotPlaceableError(f"energy is not a finite number: {value!r} eV for {formula}")
    return energy


def _check_refs(refs: Mapping[str, float]) -> dict[str, float]:
    """The references as floats (eV/atom), with a ValueError naming an unknown element or a bad value."""
    checked: dict[str, float] = {}
    for element, mu in refs.items():
        if not Element.is_valid_symbol(element):
            raise ValueError(f"elemental reference for unknown element {element!r}")
        try:
            checked[element] = float(mu)
        except (TypeError, ValueError):
            raise ValueError(f"elemental reference of {element} is not a number: {mu!r}") from None
        if not math.isfinite(checked[element]):
            raise ValueError(f"elemental reference of {element} is not a finite number: {mu!r}")
    return checked


def _prepare(
    entries: Iterable[HullEntry | tuple[str, Composition | str, float]], refs: Mapping[str, float]
) -> tuple[list[_Point], dict[str, tuple[str, str]]]:
    """Points of the placeable entries, and entry id -> (chemsys, reason) for the others."""
    points: list[_Point] = []
    not_placed: dict[str, tuple[str, str]] = {}
    seen: set[str] = set()
    for entry_id, composition, energy_ev in entries:
        if entry_id in seen:
            raise ValueError(f"duplicate entry id {entry_id!r}")
        seen.add(entry_id)
        try:
            points.append(_point(entry_id, composition, energy_ev, refs))
        except NotPlaceableError as exc:
            not_placed[entry_id] = ("-".join(sorted(_element_amounts(composition))), str(exc))
        except ValueError as exc:
            raise ValueError(f"entry {entry_id!r}: {exc}") from None
    return points, not_placed


def _lowest(points: Iterable[_Point]) -> _Point:
    """The lowest point; exact ties go to the smallest entry id (deterministic)."""
    return min(points, key=lambda p: (p.e_form, p.entry_id))


@dataclass(frozen=True, slots=True)
class _Terminal:
    entry_id: str
    e_form: float


def _terminals(points: Iterable[_Point], refs: Mapping[str, float]) -> dict[str, _Terminal]:
    """The terminal point of every referenced element (see the module docstring)."""
    by_element: dict[str, list[_Point]] = defaultdict(list)
    for p in points:
        if len(p.elements) == 1:
            by_element[p.elements[0]].append(p)
    terminals: dict[str, _Terminal] = {}
    for element in refs:
        lowest = _lowest(by_element[element]) if by_element[element] else None
        if lowest is not None and lowest.e_form <= REFERENCE_MATCH_TOL_EV_PER_ATOM:
            terminals[element] = _Terminal(lowest.entry_id, lowest.e_form)
        else:
            terminals[element] = _Terminal(reference_id(element), 0.0)
    return terminals


@dataclass(frozen=True, slots=True)
class _PointSet:
    """Compounds of one chemical system that its supersystems' hulls must include."""

    elements: tuple[str, ...]
    ids: tuple[str, ...]
    fractions: Array  # (k, len(elements)) atomic fractions
    e_form: Array  # (k,) eV/atom


def _hull_points(
    elements: tuple[str, ...],
    terminals: Mapping[str, _Terminal],
    store: Mapping[str, _PointSet],
    include_own: bool,
) -> tuple[list[str], Array, Array]:
    """Ids, fractions and energies of the terminals and the stored subsystem compounds of a system.

    The first ``len(elements)`` rows are the terminals, in element order.
    """
    n = len(elements)
    column = {el: i for i, el in enumerate(elements)}
    sizes = range(2, n + 1 if include_own else n)
    blocks = [block for system in subsystems_of(elements, sizes=sizes) if (block := store.get(system)) is not None]
    size = n + sum(len(block.ids) for block in blocks)
    fractions = np.zeros((size, n))
    fractions[:n, :n] = np.eye(n)
    energies = np.empty(size)
    energies[:n] = [terminals[el].e_form for el in elements]
    ids = [terminals[el].entry_id for el in elements]
    row = n
    for block in blocks:
        k = len(block.ids)
        fractions[row : row + k, [column[el] for el in block.elements]] = block.fractions
        energies[row : row + k] = block.e_form
        ids.extend(block.ids)
        row += k
    return ids, fractions, energies


class _LowerHull:
    """The lower convex hull of points (atomic fractions, formation energy) of one chemical system.

    The first ``n`` rows are the terminal points (unit fractions). Beyond them, qhull builds the hull
    with the first fraction column dropped (fractions sum to 1) and a point high above the centre of
    the simplex that keeps it full-dimensional whatever the data; only the facets that face down and
    do not touch that point are kept.
    """

    def __init__(self, fractions: Array, energies: Array) -> None:
        n = fractions.shape[1]
        self.fractions = fractions
        self.energies = energies
        if len(energies) == n:  # the terminals alone: one facet, their plane
            self.facets: npt.NDArray[np.intp] = np.arange(n)[None, :]
            # Each lower facet as a plane e = slope . x[1:] + intercept.
            self._slope = (energies[1:] - energies[0])[None, :]
            self._intercept = energies[:1].copy()
            return
        lid = np.append(np.full(n - 1, 1.0 / n), energies.max() + 1.0)
        qhull = ConvexHull(np.vstack([np.column_stack([fractions[:, 1:], energies]), lid]), qhull_options="Qt")
        normal_energy = qhull.equations[:, n - 1]
        lower = (normal_energy < -_VERTICAL_TOL) & (qhull.simplices < len(energies)).all(axis=1)
        self.facets = qhull.simplices[lower]
        self._slope = -qhull.equations[lower, : n - 1] / normal_energy[lower, None]
        self._intercept = -qhull.equations[lower, n] / normal_energy[lower]

    def locate(self, fractions: Array) -> tuple[float, list[tuple[int, float]]]:
        """Hull energy (eV/atom) at a composition and its decomposition as ``(row, fraction)`` pairs.

        The lower hull is the highest of its facet planes. The decomposition comes from a highest
        facet whose simplex holds the composition (where several facets share a plane, the first).
        """
        heights = self._slope @ fractions[1:] + self._intercept
        best = int(heights.argmax())
        rows = self.facets[best]
        amounts = np.linalg.solve(self.fractions[rows].T, fractions)
        if amounts.min() < -_FACET_TOL:
            rows, amounts = self._containing_facet(fractions, np.flatnonzero(heights >= heights[best] - _FACET_TOL))
        energy = float(amounts @ self.energies[rows])
        kept = amounts > _DECOMPOSITION_TOL
        total = amounts[kept].sum()
        return energy, [(int(r), float(a / total)) for r, a in zip(rows[kept], amounts[kept], strict=True)]

    def _containing_facet(self, fractions: Array, facets: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], Array]:
        for facet in facets:
            rows = self.facets[facet]
            amounts = np.linalg.solve(self.fractions[rows].T, fractions)
            if amounts.min() >= -_FACET_TOL:
                return rows, amounts
        raise RuntimeError(f"no hull facet holds composition {fractions.tolist()}")  # pragma: no cover


def _hull_energy_without(fractions: Array, energies: Array, skip: int) -> float:
    """Hull energy (eV/atom) at the composition of point ``skip`` when that point is left out.

    The lowest energy of a combination of the other points with that composition: a small linear
    program (minimise ``energies . amounts`` subject to ``fractions.T @ amounts = target``,
    ``amounts >= 0``), solved by the simplex method from the basis of the terminal points (rows
    ``0..n-1``, unit fractions), where the amounts are the target fractions themselves. Dantzig's
    rule picks the entering point (the one deepest below the current plane) until a degenerate
    pivot, Bland's rule from then on, so it always terminates. Only the energy is used: where
    coplanar points make the optimal combination ambiguous, ``_LowerHull`` names the decomposition.
    """
    target = fractions[skip]
    n = len(target)
    basis = np.arange(n)
    inverse = np.eye(n)  # inverse of the basis matrix, whose columns are the basis points' fractions
    amounts = target.copy()
    bland = False
    for _ in range(_MAX_PIVOTS_PER_POINT * len(energies)):
        potentials = energies[basis] @ inverse  # chemical potentials of the current plane, eV/atom
        reduced = energies - fractions @ potentials  # height of each point above that plane
        reduced[skip] = np.inf
        entering = int(np.argmax(reduced < -_PIVOT_TOL) if bland else reduced.argmin())
        if reduced[entering] >= -_PIVOT_TOL:
            break
        direction = inverse @ fractions[entering]
        ratios = np.where(direction > _PIVOT_TOL, amounts / np.maximum(direction, _PIVOT_TOL), np.inf)
        leaving = int(ratios.argmin())
        step = ratios[leaving]
        if step <= _PIVOT_TOL:  # degenerate: Bland's rule from now on (the lowest-numbered point leaves)
            bland = True
            ties = np.flatnonzero(ratios <= _PIVOT_TOL)
            leaving = int(ties[basis[ties].argmin()])
        amounts -= step * direction
        amounts[leaving] = step
        pivot_row = inverse[leaving] / direction[leaving]
        inverse -= direction[:, None] * pivot_row
        inverse[leaving] = pivot_row
        basis[leaving] = entering
    else:  # pragma: no cover - Bland's rule cannot cycle
        raise RuntimeError("the hull energy linear program did not converge")
    return float(np.linalg.solve(fractions[basis].T, target) @ energies[basis])


def _named(ids: list[str], decomposition: list[tuple[int, float]]) -> tuple[tuple[str, float], ...]:
    """``(row, fraction)`` pairs as ``(entry_id, fraction)``, largest fraction first, then by id."""
    return tuple(sorted(((ids[row], fraction) for row, fraction in decomposition), key=lambda p: (-p[1], p[0])))


def _representatives(points: Iterable[_Point]) -> dict[tuple[float, ...], tuple[_Point, list[_Point]]]:
    """Composition key -> (lowest point, all points of that composition), in key order."""
    groups: dict[tuple[float, ...], list[_Point]] = defaultdict(list)
    for p in points:
        groups[p.composition_key].append(p)
    return {key: (_lowest(groups[key]), groups[key]) for key in sorted(groups)}


def _below_terminal_plane(elements: tuple[str, ...], reps: list[_Point], terminals: Mapping[str, _Terminal]) -> list[_Point]:
    """The compounds that lie below the plane of their terminal points (only those can be vertices)."""
    t = [terminals[el].e_form for el in elements]
    return [p for p in reps if p.e_form - float(np.dot(p.fractions, t)) < -FORMATION_TOL_EV_PER_ATOM]


# ---- the whole catalogue -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HullResult:
    """The outcome of ``compute_hull``.

    Attributes:
        stability: Entry id -> its stability, for every placed entry of the computed systems.
        not_placed: Entry id -> why it could not be placed (no reference for an element, no finite
            energy), for the entries of the computed systems.
        index: A ``HullIndex`` over the hull vertices of every system computed (the requested
            systems and their subsystems), ready for hypothetical-entry queries. A query outside
            those systems sees only the vertices of the computed ones.
    """

    stability: dict[str, EntryStability]
    not_placed: dict[str, str]
    index: HullIndex


def compute_hull(
    entries: Iterable[HullEntry | tuple[str, Composition | str, float]],
    refs: Mapping[str, float],
    chemsys: Iterable[str] | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> HullResult:
    """Energies above the hull, decompositions and phase-separation energies of catalogue entries.

    Args:
        entries: ``(entry_id, composition, energy_ev)``: ids are unique, compositions are pymatgen
            ``Composition`` objects or formulas, ``energy_ev`` is the corrected total energy of that
            cell in eV.
        refs: Element symbol -> chemical potential in eV/atom.
        chemsys: Only compute the entries of these chemical systems (any element order). Their
            subsystems are computed along (results not returned), so ``entries`` must hold the
            entries of those subsystems too, or at least the stable ones. ``None``: every system.
        progress: Called as ``progress(systems_done, systems_total)`` after each system.
        workers: Processes that solve the systems of one size at once (forked; 1: in this process). The
            result does not depend on it.

    Returns:
        The stability of every placed entry of the requested systems, the entries not placed and
        why, and a ``HullIndex`` over the hull.

    Raises:
        ValueError: an unparsable formula, an unknown element, a duplicate entry id, a bad reference
            or chemical system.
    """
    refs = _check_refs(refs)
    points, not_placed = _prepare(entries, refs)
    terminals = _terminals(points, refs)
    by_system: dict[str, list[_Point]] = defaultdict(list)
    for p in points:
        by_system[p.chemsys].append(p)

    if chemsys is None:
        wanted = set(by_system) | {system for system, _ in not_placed.values()}
    else:
        wanted = {normalise_chemsys(s) for s in chemsys}
    needed = set(by_system) if chemsys is None else subsystems(wanted) & by_system.keys()
    order = sorted(needed, key=lambda s: (s.count("-"), s))

    store: dict[str, _PointSet] = {}
    stability: dict[str, EntryStability] = {}
    done = 0
    # systems with the same number of elements depend only on smaller ones: each such level may be solved
    # in parallel, with the vertices of every smaller level already in the store
    for size in sorted({s.count("-") + 1 for s in order}):
        level = [s for s in order if s.count("-") + 1 == size]
        for system, results, vertices in _solve_level(level, by_system, terminals, store, workers):
            if vertices is not None:
                store[system] = vertices
            if system in wanted:
                stability.update((r.entry_id, r) for r in results)
            done += 1
            if progress is not None:
                progress(done, len(order))

    return HullResult(
        stability=stability,
        not_placed={entry_id: reason for entry_id, (system, reason) in not_placed.items() if system in wanted},
        index=HullIndex._from_store(refs, terminals, store),
    )


PARALLEL_MIN_SYSTEMS = 400  # a level with fewer systems is solved in this process (forking costs more)
_PARALLEL_CHUNK = 250  # systems per task

_shared: tuple = ()  # (by_system, terminals, store) for forked workers: inherited, never pickled


def _solve_one(system: str, by_system, terminals, store) -> tuple[str, list[EntryStability], _PointSet | None]:
    elements = tuple(system.split("-"))
    if len(elements) == 1:
        return system, _solve_element(by_system[system], terminals[elements[0]]), None
    results, vertices = _solve_system(elements, by_system[system], terminals, store)
    return system, results, vertices


def _solve_chunk(systems: list[str]) -> list[tuple[str, list[EntryStability], _PointSet | None]]:
    by_system, terminals, store = _shared
    return [_solve_one(system, by_system, terminals, store) for system in systems]


def _solve_level(level: list[str], by_system, terminals, store, workers: int):
    """(system, results, vertices) of every system of one level, in order; forked workers for a large one."""
    global _shared
    if workers <= 1 or len(level) < PARALLEL_MIN_SYSTEMS:
        for system in level:
            yield _solve_one(system, by_system, terminals, store)
        return
    import multiprocessing

    _shared = (by_system, terminals, store)
    chunks = [level[i:i + _PARALLEL_CHUNK] for i in range(0, len(level), _PARALLEL_CHUNK)]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for solved in pool.imap(_solve_chunk, chunks):
                yield from solved
    finally:
        _shared = ()


def _solve_element(points: list[_Point], terminal: _Terminal) -> list[EntryStability]:
    """Entries of a one-element system: measured from the terminal point."""
    results = []
    for p in points:
        on_hull = p.entry_id == terminal.entry_id
        e_above = 0.0 if on_hull else p.e_form - terminal.e_form
        results.append(
            EntryStability(
                entry_id=p.entry_id,
                chemsys=p.chemsys,
                e_form_ev_per_atom=p.e_form,
                e_above_hull_ev_per_atom=e_above,
                decomposition=((terminal.entry_id, 1.0),),
                phase_separation_ev_per_atom=e_above,
                on_hull=on_hull,
            )
        )
    return results


def _solve_system(
    elements: tuple[str, ...],
    points: list[_Point],
    terminals: Mapping[str, _Terminal],
    store: Mapping[str, _PointSet],
) -> tuple[list[EntryStability], _PointSet | None]:
    """Entries of a system of two or more elements, and the system's own hull vertices.

    The hull points are the terminals, the subsystems' vertices and the lowest entry of each own
    composition that lies below the terminal plane (a candidate). A candidate is a vertex exactly
    when it lies below the hull of all the other points; that hull's energy at its composition is
    also what its phase-separation energy is measured from (``_hull_energy_without``). Only a
    system with an entry off the hull needs the hull itself (``_LowerHull``), for the decomposition.
    """
    ids, fractions, energies = _hull_points(elements, terminals, store, include_own=False)
    groups = list(_representatives(points).values())
    candidates = _below_terminal_plane(elements, [rep for rep, _ in groups], terminals)
    first_own = len(ids)
    row_of = {rep.entry_id: first_own + k for k, rep in enumerate(candidates)}
    if candidates:
        ids = ids + [rep.entry_id for rep in candidates]
        fractions = np.vstack([fractions, [rep.fractions for rep in candidates]])
        energies = np.concatenate([energies, [rep.e_form for rep in candidates]])
    separated: dict[int, float] = {}  # vertex row -> hull energy at its composition without it, eV/atom
    for rep in candidates:
        row = row_of[rep.entry_id]
        without = _hull_energy_without(fractions, energies, row)
        if rep.e_form < without - FORMATION_TOL_EV_PER_ATOM:
            separated[row] = without

    results: list[EntryStability] = []
    hull: _LowerHull | None = None
    for rep, group in groups:
        row = row_of.get(rep.entry_id, -1)
        if row in separated:
            results.extend(_at_vertex(rep, group, separated[row]))
            continue
        if hull is None:
            hull = _LowerHull(fractions, energies)
        hull_energy, decomposition = hull.locate(np.array(rep.fractions))
        named = _named(ids, decomposition)
        results.extend(
            EntryStability(
                entry_id=p.entry_id,
                chemsys=p.chemsys,
                e_form_ev_per_atom=p.e_form,
                e_above_hull_ev_per_atom=p.e_form - hull_energy,
                decomposition=named,
                phase_separation_ev_per_atom=p.e_form - hull_energy,
                on_hull=False,
            )
            for p in group
        )

    if not separated:
        return results, None
    vertex_rows = sorted(separated)
    return results, _PointSet(
        elements=elements,
        ids=tuple(ids[row] for row in vertex_rows),
        fractions=fractions[vertex_rows],
        e_form=energies[vertex_rows],
    )


def _at_vertex(rep: _Point, group: list[_Point], separated_energy: float) -> list[EntryStability]:
    """The entries of a composition whose lowest entry ``rep`` is a hull vertex.

    ``separated_energy`` is the hull energy at that composition without it (eV/atom).
    """
    return [
        EntryStability(
            entry_id=p.entry_id,
            chemsys=p.chemsys,
            e_form_ev_per_atom=p.e_form,
            e_above_hull_ev_per_atom=0.0 if p is rep else p.e_form - rep.e_form,
            decomposition=((rep.entry_id, 1.0),),
            phase_separation_ev_per_atom=p.e_form - separated_energy,
            on_hull=p is rep,
        )
        for p in group
    ]


# ---- hypothetical entries ------------------------------------------------------------------------


class HullIndex:
    """Answers where a hypothetical entry would stand against a fixed hull.

    Built from catalogue entries (only the stable ones are needed, and passing only those is what
    keeps it small) and the elemental references. The hull of a chemical system is built on its
    first query and cached; at most ``max_cached_hulls`` are kept (least recently used go first).
    """

    def __init__(
        self,
        entries: Iterable[HullEntry | tuple[str, Composition | str, float]],
        refs: Mapping[str, float],
        *,
        max_cached_hulls: int = 4096,
    ) -> None:
        """Index entries; ``not_placed`` holds entry id -> reason for those without a place.

        Raises:
            ValueError: an unparsable formula, an unknown element, a duplicate entry id, a bad reference.
        """
        refs = _check_refs(refs)
        points, not_placed = _prepare(entries, refs)
        terminals = _terminals(points, refs)
        by_system: dict[str, list[_Point]] = defaultdict(list)
        for p in points:
            if len(p.elements) > 1:
                by_system[p.chemsys].append(p)
        store: dict[str, _PointSet] = {}
        for system, system_points in by_system.items():
            elements = system_points[0].elements
            reps = [rep for rep, _ in _representatives(system_points).values()]
            if kept := _below_terminal_plane(elements, reps, terminals):
                store[system] = _PointSet(
                    elements=elements,
                    ids=tuple(p.entry_id for p in kept),
                    fractions=np.array([p.fractions for p in kept]),
                    e_form=np.array([p.e_form for p in kept]),
                )
        self._setup(refs, terminals, store, max_cached_hulls)
        self.not_placed: dict[str, str] = {entry_id: reason for entry_id, (_, reason) in not_placed.items()}

    @classmethod
    def _from_store(
        cls,
        refs: dict[str, float],
        terminals: dict[str, _Terminal],
        store: dict[str, _PointSet],
        max_cached_hulls: int = 4096,
    ) -> HullIndex:
        """An index over points already prepared (``compute_hull``'s vertices), without re-parsing."""
        index = cls.__new__(cls)
        index._setup(refs, terminals, store, max_cached_hulls)
        index.not_placed = {}
        return index

    def _setup(
        self,
        refs: dict[str, float],
        terminals: dict[str, _Terminal],
        store: dict[str, _PointSet],
        max_cached_hulls: int,
    ) -> None:
        self._refs = refs
        self._terminals = terminals
        self._store = store
        self._max_cached_hulls = max_cached_hulls
        self._hulls: OrderedDict[str, tuple[list[str], _LowerHull]] = OrderedDict()

    def query(
        self,
        composition: Composition | str,
        *,
        energy_ev: float | None = None,
        energy_ev_per_atom: float | None = None,
    ) -> QueryResult:
        """Formation energy, energy above the hull (negative below it) and decomposition of a hypothetical entry.

        Args:
            composition: pymatgen ``Composition`` or formula.
            energy_ev: Corrected total energy of the cell ``composition`` writes, eV. Give this or
                ``energy_ev_per_atom``, not both.
            energy_ev_per_atom: Corrected total energy per atom, eV/atom.

        Raises:
            ValueError: an unparsable formula, an unknown element, not exactly one energy given.
            NotPlaceableError: an element without reference, an energy that is not a finite number.
        """
        if (energy_ev is None) == (energy_ev_per_atom is None):
            raise ValueError("give exactly one of energy_ev and energy_ev_per_atom")
        amounts = _element_amounts(composition)
        if energy_ev is None:
            energy_ev = _as_energy(energy_ev_per_atom, str(composition)) * sum(amounts.values())
        p = _place("query", amounts, str(composition), energy_ev, self._refs)
        if len(p.elements) == 1:
            terminal = self._terminals[p.elements[0]]
            return QueryResult(p.chemsys, p.e_form, p.e_form - terminal.e_form, ((terminal.entry_id, 1.0),))
        ids, hull = self._hull(p.elements)
        hull_energy, decomposition = hull.locate(np.array(p.fractions))
        return QueryResult(p.chemsys, p.e_form, p.e_form - hull_energy, _named(ids, decomposition))

    def _hull(self, elements: tuple[str, ...]) -> tuple[list[str], _LowerHull]:
        system = "-".join(elements)
        cached = self._hulls.get(system)
        if cached is not None:
            self._hulls.move_to_end(system)
            return cached
        ids, fractions, energies = _hull_points(elements, self._terminals, self._store, include_own=True)
        cached = self._hulls[system] = (ids, _LowerHull(fractions, energies))
        if len(self._hulls) > self._max_cached_hulls:
            self._hulls.popitem(last=False)
        return cached


# ---- incremental recompute -----------------------------------------------------------------------


def affected_chemsys(new_chemsys: Iterable[str], existing_chemsys: Iterable[str]) -> set[str]:
    """The chemical systems whose hull can change when entries of ``new_chemsys`` arrive.

    Those are the new systems themselves and every existing system that contains one of them (an
    entry changes the hull of its own system and of every supersystem, nothing else).
    Both arguments accept any element order; the result is normalised ("Fe-Li-O-P").

    Raises:
        ValueError: a chemical system with an unknown element.
    """
    new = {normalise_chemsys(s) for s in new_chemsys}
    containing: dict[str, set[str]] = defaultdict(set)
    for system in {normalise_chemsys(s) for s in existing_chemsys}:
        for element in system.split("-"):
            containing[element].add(system)
    affected = set(new)
    for system in new:
        affected |= set.intersection(*(containing[element] for element in system.split("-")))
    return affected
