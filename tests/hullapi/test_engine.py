"""The pure hull engine against pymatgen's PhaseDiagram, on the real data, without a database.

pymatgen sees the same physics: every entry as a ``ComputedEntry`` with its corrected total energy
(GNoME rows rebuilt from their formation energy, Materials Project rows MP2020-corrected with
``rows.process_mp``) and the elemental references as ``PDEntry`` at mu. Energies above the hull do
not depend on where the energy zero is, so pymatgen's total-energy hull and the engine's
formation-energy hull must give the same numbers and the same decompositions.
"""

from __future__ import annotations

import ast
import gzip
import itertools
import json
import math
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition
from pymatgen.entries.computed_entries import ComputedEntry

from hullapi.engine import (
    ROUNDING_EV_PER_ATOM,
    STABILITY_TOL_EV_PER_ATOM,
    HullEntry,
    HullIndex,
    HullResult,
    NotPlaceableError,
    affected_chemsys,
    compute_hull,
    reference_id,
)
from materials import readers, rows

NAMED_SYSTEMS = ("Li-Mn-O", "Li-P-S", "Fe-Li-O-P")
SAMPLED_SYSTEMS = {2: 40, 3: 60, 4: 60, 5: 40}  # number of elements -> systems drawn at random


def chemsys_of(formula: str) -> str:
    return "-".join(sorted(el.symbol for el in Composition(formula)))


class Catalogue:
    """The real data by chemical system; Materials Project rows are MP2020-corrected on first use."""

    def __init__(self, data_dir: Path, mp_rows: list[dict], refs: dict[str, float]) -> None:
        self.refs = refs
        self.gnome: dict[str, list[HullEntry]] = defaultdict(list)
        with gzip.open(data_dir / readers.GNOME_SAMPLE, "rt") as fh:
            for line in fh:
                row = json.loads(line)
                comp = Composition(row["composition"])
                e_form = row["e_form_per_atom"]
                placeable = e_form is not None and all(el.symbol in refs for el in comp)
                energy = (e_form * comp.num_atoms + sum(n * refs[el.symbol] for el, n in comp.items())
                          if placeable else math.nan)
                self.gnome[row["elements"]].append(HullEntry(row["material_id"], row["composition"], energy))
        self.mp_rows: dict[str, list[dict]] = defaultdict(list)
        for row in mp_rows:
            self.mp_rows["-".join(sorted(ast.literal_eval(row["Elements"])))].append(row)
        self._mp: dict[str, list[HullEntry]] = {}
        self.systems = set(self.gnome) | set(self.mp_rows)

    def mp(self, system: str) -> list[HullEntry]:
        if system not in self._mp:
            self._mp[system] = []
            for row in self.mp_rows.get(system, ()):
                record = {
                    "material_id": row["MaterialId"],
                    "composition": row["Composition"],
                    "nsites": row["NSites"],
                    "energy_published_ev": row["Corrected Energy"],
                }
                energy = rows.process_mp(record, self.refs)["calculation"]["energy_corrected_ev"]
                self._mp[system].append(HullEntry(row["MaterialId"], row["Composition"], energy))
        return self._mp[system]

    def entries(self, systems: Iterable[str]) -> list[HullEntry]:
        """All entries of these systems and of every subsystem."""
        closure = {
            "-".join(subset)
            for system in systems
            for k in range(1, system.count("-") + 2)
            for subset in itertools.combinations(system.split("-"), k)
        }
        return [e for system in sorted(closure & self.systems) for e in self.gnome.get(system, []) + self.mp(system)]


@pytest.fixture(scope="module")
def refs(data_dir) -> dict[str, float]:
    return readers.reference_energies(data_dir / readers.ELEMENTAL_REFERENCES)


@pytest.fixture(scope="module")
def catalogue(data_dir, mp_rows, refs) -> Catalogue:
    return Catalogue(data_dir, mp_rows, refs)


@pytest.fixture(scope="module")
def selection(catalogue, refs) -> list[str]:
    """The named systems and, drawn reproducibly, systems of 2 to 5 elements that all have references."""
    placeable = sorted(s for s in catalogue.systems if all(el in refs for el in s.split("-")))
    rng = random.Random(20231129)
    drawn = [s for n, k in SAMPLED_SYSTEMS.items() for s in rng.sample([s for s in placeable if s.count("-") + 1 == n], k)]
    return sorted(set(drawn) | set(NAMED_SYSTEMS))


@pytest.fixture(scope="module")
def selection_entries(catalogue, selection) -> list[HullEntry]:
    return catalogue.entries(selection)


@pytest.fixture(scope="module")
def selection_hull(selection_entries, refs) -> HullResult:
    return compute_hull(selection_entries, refs)


class Pymatgen:
    """pymatgen's PhaseDiagram of each chemical system over all the entries of its subsystems."""

    def __init__(self, entries: list[HullEntry], refs: dict[str, float]) -> None:
        # Input in id order: pymatgen resolves exact energy ties by input order, the engine by id.
        self.computed: dict[str, ComputedEntry] = {}
        self.by_system: dict[str, list[ComputedEntry]] = defaultdict(list)
        for entry_id, formula, energy in sorted(entries):
            system = chemsys_of(formula)
            if math.isfinite(energy) and all(el in refs for el in system.split("-")):
                self.computed[entry_id] = ComputedEntry(Composition(formula), energy, entry_id=entry_id)
                self.by_system[system].append(self.computed[entry_id])
        self.references = {el: PDEntry(Composition(el), mu, name=reference_id(el)) for el, mu in refs.items()}
        self._diagrams: dict[str, PhaseDiagram] = {}

    def diagram(self, system: str) -> PhaseDiagram:
        if system not in self._diagrams:
            elements = system.split("-")
            pool = [self.references[el] for el in elements]
            for k in range(1, len(elements) + 1):
                for subset in itertools.combinations(elements, k):
                    pool.extend(self.by_system.get("-".join(subset), ()))
            self._diagrams[system] = PhaseDiagram(pool)
        return self._diagrams[system]


def name_of(entry: PDEntry) -> str:
    return entry.entry_id if isinstance(entry, ComputedEntry) else entry.name


class TieClasses:
    """Maps an id to the smallest id of the same reduced composition and formation energy (within 1e-9 eV/atom).

    A bare reference (``reference_id``) and the reference material itself are one class, and so are
    exact duplicates: either may name a decomposition product.
    """

    def __init__(self, entries: Iterable[HullEntry], refs: dict[str, float]) -> None:
        keyed = [(reference_id(el), Composition(el), 0.0) for el in refs]
        for entry_id, formula, energy in entries:
            comp = Composition(formula)
            if math.isfinite(energy) and all(el.symbol in refs for el in comp):
                e_form = (energy - sum(n * refs[el.symbol] for el, n in comp.items())) / comp.num_atoms
                keyed.append((entry_id, comp, e_form))
        by_key: dict[tuple, list[tuple[float, str]]] = defaultdict(list)
        for entry_id, comp, e_form in keyed:
            key = tuple(sorted((el.symbol, round(x, 9)) for el, x in comp.fractional_composition.items()))
            by_key[key].append((e_form, entry_id))
        self.canonical: dict[str, str] = {}
        for members in by_key.values():
            for e_form, entry_id in members:
                self.canonical[entry_id] = min(other for e, other in members if abs(e - e_form) <= 1e-9)

    def decomposition(self, pairs: Iterable[tuple[str, float]]) -> dict[str, float]:
        merged: dict[str, float] = defaultdict(float)
        for entry_id, fraction in pairs:
            merged[self.canonical[entry_id]] += fraction
        return dict(merged)


def assert_same_decomposition(ours: dict[str, float], theirs: dict[str, float], entry_id: str) -> None:
    assert set(ours) == set(theirs), entry_id
    for name, fraction in ours.items():
        assert fraction == pytest.approx(theirs[name], abs=1e-6), entry_id


# ---- agreement with pymatgen --------------------------------------------------------------------


def test_it_agrees_with_pymatgen_on_real_systems_from_binaries_to_quinaries(selection_entries, selection_hull, refs):
    reference = Pymatgen(selection_entries, refs)
    ties = TieClasses(selection_entries, refs)
    compared: dict[int, set[str]] = defaultdict(set)
    for system, own in sorted(reference.by_system.items()):
        diagram = reference.diagram(system)
        stable = {e.entry_id for e in diagram.stable_entries if isinstance(e, ComputedEntry)}
        for entry in own:
            ours = selection_hull.stability[entry.entry_id]
            decomposition, e_above = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
            assert ours.e_above_hull_ev_per_atom == pytest.approx(e_above, abs=1e-6), entry.entry_id
            assert_same_decomposition(
                ties.decomposition(ours.decomposition),
                ties.decomposition((name_of(e), x) for e, x in decomposition.items()),
                entry.entry_id,
            )
            assert sum(x for _, x in ours.decomposition) == pytest.approx(1.0, abs=1e-12)
            assert ours.on_hull == (entry.entry_id in stable or ties.canonical[entry.entry_id] in stable), entry.entry_id
            assert ours.is_stable == (ours.e_above_hull_ev_per_atom <= STABILITY_TOL_EV_PER_ATOM + ROUNDING_EV_PER_ATOM)
            compared[system.count("-") + 1].add(system)
    assert all(len(compared[n]) >= 40 for n in (2, 3, 4, 5))


def test_it_gives_formation_energies_from_the_fixed_references(selection_entries, selection_hull, refs):
    for entry_id, formula, energy in selection_entries[:300]:
        comp = Composition(formula)
        if entry_id in selection_hull.stability:
            expected = (energy - sum(n * refs[el.symbol] for el, n in comp.items())) / comp.num_atoms
            assert selection_hull.stability[entry_id].e_form_ev_per_atom == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("system", NAMED_SYSTEMS)
def test_it_finds_the_stable_phases_pymatgen_finds(system, catalogue, refs):
    entries = catalogue.entries([system])
    result = compute_hull(entries, refs)
    diagram = Pymatgen(entries, refs).diagram(system)
    ties = TieClasses(entries, refs)
    ours = {ties.canonical[entry_id] for entry_id, s in result.stability.items() if s.on_hull}
    theirs = {ties.canonical[name_of(e)] for e in diagram.stable_entries}
    assert ours == theirs
    assert len(ours) > len(system.split("-"))  # compounds, not only the terminal points


def test_it_matches_pymatgen_phase_separation_energies(selection_hull, selection_entries, selection, refs):
    """pymatgen finds the phase-separation energy of a hull phase by SLSQP, which converges to about
    1e-5 eV/atom (up to 1.7e-5 on this data); its definition, the entry against the hull rebuilt
    without its composition, is matched to 1e-6. Other entries get their energy above the hull."""
    reference = Pymatgen(selection_entries, refs)
    named = {s for system in NAMED_SYSTEMS for s in reference.by_system if set(s.split("-")) <= set(system.split("-"))}
    others = sorted(s for s in selection if s.count("-") >= 2 and s in reference.by_system)
    systems = sorted(named | set(random.Random(7).sample(others, 25)))
    hull_phases = 0
    for system in systems:
        diagram = reference.diagram(system)
        hull_compositions = {e.composition.reduced_composition for e in diagram.stable_entries}
        for entry in reference.by_system[system]:
            ours = selection_hull.stability[entry.entry_id].phase_separation_ev_per_atom
            expected = diagram.get_decomp_and_phase_separation_energy(entry)[1]
            composition = entry.composition.reduced_composition
            if entry.is_element or composition not in hull_compositions:
                assert ours == pytest.approx(expected, abs=1e-6), entry.entry_id
                continue
            rest = [e for e in diagram.all_entries if e.composition.reduced_composition != composition]
            without = PhaseDiagram(rest, elements=diagram.elements).get_hull_energy_per_atom(entry.composition)
            assert ours == pytest.approx(entry.energy_per_atom - without, abs=1e-6), entry.entry_id
            assert ours == pytest.approx(expected, abs=5e-5), entry.entry_id
            if selection_hull.stability[entry.entry_id].on_hull:
                assert ours < 0, entry.entry_id
                hull_phases += 1
    assert hull_phases > 50


# ---- what a hull must handle --------------------------------------------------------------------


def test_it_reports_entries_with_an_element_without_reference_as_not_placed(catalogue, refs):
    assert "Yb" not in refs
    with_yb = [e for system, entries in sorted(catalogue.gnome.items()) if "Yb" in system.split("-") for e in entries][:20]
    placeable = catalogue.entries(["Li-Mn-O"])
    result = compute_hull(with_yb + placeable, refs)
    assert set(result.not_placed) == {e.entry_id for e in with_yb}
    assert all(reason.startswith("no elemental reference for Yb") for reason in result.not_placed.values())
    assert set(result.stability) == {e.entry_id for e in placeable}
    with pytest.raises(NotPlaceableError, match="no elemental reference for Yb"):
        result.index.query("Yb2O3", energy_ev=-40.0)


def test_it_reports_an_entry_without_finite_energy_as_not_placed(catalogue, refs):
    nan_rows = [e for entries in catalogue.gnome.values() for e in entries if math.isnan(e.energy_ev)]
    real_nan = [e for e in nan_rows if all(el.symbol in refs for el in Composition(e.composition))]
    assert real_nan  # the sample has rows without a formation energy
    infinite = HullEntry("infinite", "Li2O", math.inf)
    result = compute_hull(real_nan + [infinite] + catalogue.entries(["Li-O"]), refs)
    assert set(result.not_placed) == {e.entry_id for e in real_nan} | {"infinite"}
    assert all("not a finite number" in reason for reason in result.not_placed.values())


def test_it_handles_polymorphs_and_exact_duplicates_deterministically(catalogue, refs):
    entries = catalogue.entries(["Li-P-S"])
    base = compute_hull(entries, refs)
    vertex = next(
        e for e in entries if chemsys_of(e.composition) == "Li-P-S" and base.stability[e.entry_id].on_hull
    )
    comp = Composition(vertex.composition)
    duplicate = HullEntry("0-duplicate", comp * 2, vertex.energy_ev * 2)  # same energy per atom, doubled cell
    polymorph = HullEntry("polymorph", comp, vertex.energy_ev + 0.05 * comp.num_atoms)
    extended = [*entries, duplicate, polymorph]
    result = compute_hull(extended, refs)
    shuffled = compute_hull(random.Random(3).sample(extended, len(extended)), refs)
    assert shuffled.stability == result.stability

    chosen, tied, higher = (result.stability[k] for k in ("0-duplicate", vertex.entry_id, "polymorph"))
    assert chosen.on_hull and chosen.decomposition == (("0-duplicate", 1.0),)
    assert not tied.on_hull and tied.is_stable and tied.e_above_hull_ev_per_atom == 0.0
    assert tied.decomposition == (("0-duplicate", 1.0),)
    assert higher.e_above_hull_ev_per_atom == pytest.approx(0.05, abs=1e-9) and not higher.is_stable
    assert higher.decomposition == (("0-duplicate", 1.0),)
    assert chosen.phase_separation_ev_per_atom == tied.phase_separation_ev_per_atom
    assert chosen.phase_separation_ev_per_atom == pytest.approx(
        base.stability[vertex.entry_id].phase_separation_ev_per_atom, abs=1e-12)

    reference = Pymatgen(extended, refs)
    diagram = reference.diagram("Li-P-S")
    for entry_id in ("0-duplicate", vertex.entry_id, "polymorph"):
        entry = reference.computed[entry_id]
        assert result.stability[entry_id].e_above_hull_ev_per_atom == pytest.approx(
            diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)[1], abs=1e-9
        )
        assert result.stability[entry_id].phase_separation_ev_per_atom == pytest.approx(
            diagram.get_decomp_and_phase_separation_energy(entry)[1], abs=1e-6
        )
    assert reference.computed["0-duplicate"] in diagram.stable_entries


def test_it_counts_an_entry_exactly_at_the_threshold_as_stable(catalogue, refs):
    """GNoME energies come to 1e-4 eV/atom, so entries exactly 5e-5 above the hull are common."""
    entries = catalogue.entries(["Li-P-S"])
    base = compute_hull(entries, refs)
    vertex = next(e for e in entries if chemsys_of(e.composition) == "Li-P-S" and base.stability[e.entry_id].on_hull)
    atoms = Composition(vertex.composition).num_atoms
    at = HullEntry("at-threshold", vertex.composition, vertex.energy_ev + STABILITY_TOL_EV_PER_ATOM * atoms)
    above = HullEntry("above-threshold", vertex.composition, vertex.energy_ev + 1.01 * STABILITY_TOL_EV_PER_ATOM * atoms)
    result = compute_hull([*entries, at, above], refs)
    assert result.stability["at-threshold"].e_above_hull_ev_per_atom == pytest.approx(STABILITY_TOL_EV_PER_ATOM, abs=1e-12)
    assert result.stability["at-threshold"].is_stable
    assert not result.stability["above-threshold"].is_stable
    for entry in (at, above):
        query = base.index.query(entry.composition, energy_ev=entry.energy_ev)
        assert query.is_stable == result.stability[entry.entry_id].is_stable


def test_rounds_and_screening_figures_judge_stability_as_the_engine_does(catalogue, refs):
    """One predicate: an evaluated candidate exactly at the tolerance (its energy above the hull off by rounding,
    as the engine computes it) is a hit in the screening figures and a stable candidate of a round exactly when
    the engine calls it stable. Before, both compared with a bare 5e-5 and could disagree with stored stability."""
    import importlib
    import inspect
    import pkgutil

    from discovery import rounds
    from discovery.screening import screening_metrics
    from hullapi.engine import is_stable_energy

    entries = catalogue.entries(["Li-P-S"])
    base = compute_hull(entries, refs)
    vertex = next(e for e in entries if chemsys_of(e.composition) == "Li-P-S" and base.stability[e.entry_id].on_hull)
    atoms = Composition(vertex.composition).num_atoms
    answers = []
    for factor in (0.5, 1.0, 1.0 + 1e-6, 1.01, 2.0):  # the third: 5e-11 eV/atom over, a rounding error
        query = base.index.query(vertex.composition, energy_ev=vertex.energy_ev + factor * STABILITY_TOL_EV_PER_ATOM
                                 * atoms)
        answers.append(query)
    above = [q.e_above_hull_ev_per_atom for q in answers]
    assert [is_stable_energy(a) for a in above] == [q.is_stable for q in answers] == [True, True, True, False, False]
    e_form = [0.0] * len(above)
    m = screening_metrics(e_form, e_form, above, resamples=0)
    assert m["at_zero"]["hits"] == sum(q.is_stable for q in answers) == 3
    assert not is_stable_energy(None)
    # the round's judging stage asks the same predicate (no threshold of its own left to drift), in every module
    # of the rounds package
    source = "".join(inspect.getsource(importlib.import_module(f"{rounds.__name__}.{module.name}"))
                     for module in pkgutil.iter_modules(rounds.__path__))
    assert "is_stable_energy" in inspect.getsource(rounds.measure) and "5e-5" not in source


def test_it_takes_an_elemental_polymorph_below_its_reference_as_the_terminal_point(catalogue, refs):
    entries = catalogue.entries(["Li-Mn-O"])
    reference_material = next(e for e in entries if chemsys_of(e.composition) == "Li")
    before = compute_hull(entries, refs)
    assert before.stability[reference_material.entry_id].on_hull
    assert before.stability[reference_material.entry_id].e_form_ev_per_atom == pytest.approx(0.0, abs=1e-12)

    lower = HullEntry("li-below-reference", "Li", refs["Li"] - 0.05)
    higher = HullEntry("li-above-reference", "Li2", 2 * (refs["Li"] + 0.02))
    extended = [*entries, lower, higher]
    result = compute_hull(extended, refs)
    assert result.stability["li-below-reference"].on_hull
    assert result.stability["li-below-reference"].e_form_ev_per_atom == pytest.approx(-0.05, abs=1e-12)
    assert result.stability[reference_material.entry_id].e_above_hull_ev_per_atom == pytest.approx(0.05, abs=1e-12)
    assert result.stability["li-above-reference"].e_above_hull_ev_per_atom == pytest.approx(0.07, abs=1e-12)
    assert result.stability["li-above-reference"].decomposition == (("li-below-reference", 1.0),)

    reference = Pymatgen(extended, refs)
    ties = TieClasses(extended, refs)
    diagram = reference.diagram("Li-Mn-O")
    for entry_id, entry in reference.computed.items():
        decomposition, e_above = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
        ours = result.stability[entry_id]
        assert ours.e_above_hull_ev_per_atom == pytest.approx(e_above, abs=1e-6), entry_id
        assert_same_decomposition(
            ties.decomposition(ours.decomposition),
            ties.decomposition((name_of(e), x) for e, x in decomposition.items()),
            entry_id,
        )


def test_it_uses_the_bare_reference_when_an_element_has_no_entry(refs):
    energy = 2 * refs["Li"] + refs["O"] - 3 * 2.0  # formation energy -2 eV/atom
    result = compute_hull([HullEntry("lithia", "Li2O", energy)], refs)
    lithia = result.stability["lithia"]
    assert lithia.e_form_ev_per_atom == pytest.approx(-2.0, abs=1e-12)
    assert lithia.on_hull and lithia.decomposition == (("lithia", 1.0),)
    assert lithia.phase_separation_ev_per_atom == pytest.approx(-2.0, abs=1e-12)  # against the references' plane
    peroxide = result.index.query("LiO", energy_ev=refs["Li"] + refs["O"])  # formation energy 0
    assert dict(peroxide.decomposition) == pytest.approx({"lithia": 0.75, reference_id("O"): 0.25}, abs=1e-12)
    assert peroxide.e_above_hull_ev_per_atom == pytest.approx(0.75 * 2.0, abs=1e-12)


# ---- hypothetical entries -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lfpo(catalogue, refs) -> tuple[list[HullEntry], HullResult]:
    entries = catalogue.entries(["Fe-Li-O-P"])
    return entries, compute_hull(entries, refs)


def test_it_answers_hypothetical_queries_like_the_full_computation(lfpo, refs):
    entries, result = lfpo
    stable_only = HullIndex([e for e in entries if result.stability[e.entry_id].on_hull], refs)
    for index in (result.index, stable_only):
        for entry_id, formula, energy in entries:
            known = result.stability[entry_id]
            answer = index.query(formula, energy_ev=energy)
            assert answer.e_form_ev_per_atom == pytest.approx(known.e_form_ev_per_atom, abs=1e-12)
            if known.on_hull:  # the hull at its composition is the entry itself
                assert answer.e_above_hull_ev_per_atom == pytest.approx(0.0, abs=1e-9)
                assert answer.decomposition == ((entry_id, 1.0),)
            else:
                assert answer.e_above_hull_ev_per_atom == pytest.approx(known.e_above_hull_ev_per_atom, abs=1e-9)
                assert dict(answer.decomposition) == pytest.approx(dict(known.decomposition), abs=1e-9)
            per_atom = index.query(formula, energy_ev_per_atom=energy / Composition(formula).num_atoms)
            assert per_atom.e_above_hull_ev_per_atom == pytest.approx(answer.e_above_hull_ev_per_atom, abs=1e-12)


def test_it_places_new_compositions_as_pymatgen_does(lfpo, refs):
    entries, result = lfpo
    reference = Pymatgen(entries, refs)
    ties = TieClasses(entries, refs)
    rng = random.Random(11)
    checked_below = 0
    for formula in ("Li5FeO4", "Li3Fe2(PO4)3", "LiFeP2O7", "Li7P3O11", "Fe3P", "Li9Fe3P8O29", "Li2FePO4"):
        comp = Composition(formula)
        system = chemsys_of(formula)
        diagram = reference.diagram(system)
        hull_energy = diagram.get_hull_energy_per_atom(comp)
        for shift in (rng.uniform(0.01, 0.3), -rng.uniform(0.01, 0.3)):
            energy = (hull_energy + shift) * comp.num_atoms
            answer = result.index.query(comp, energy_ev=energy)
            decomposition, e_above = diagram.get_decomp_and_e_above_hull(PDEntry(comp, energy), allow_negative=True)
            assert answer.e_above_hull_ev_per_atom == pytest.approx(e_above, abs=1e-6), formula
            assert answer.e_above_hull_ev_per_atom == pytest.approx(shift, abs=1e-9), formula
            assert answer.is_stable == (shift < 0)
            assert_same_decomposition(
                ties.decomposition(answer.decomposition),
                ties.decomposition((name_of(e), x) for e, x in decomposition.items()),
                formula,
            )
            checked_below += shift < 0
    assert checked_below == 7


# ---- incremental recompute ----------------------------------------------------------------------


def test_it_computes_only_the_requested_systems_with_the_same_results(lfpo, refs):
    entries, full = lfpo
    wanted = ["Fe-Li-O-P", "P-O-Li"]  # any element order
    calls: list[tuple[int, int]] = []
    partial = compute_hull(entries, refs, chemsys=wanted, progress=lambda done, total: calls.append((done, total)))
    own = {e.entry_id for e in entries if chemsys_of(e.composition) in {"Fe-Li-O-P", "Li-O-P"}}
    assert set(partial.stability) == own
    assert all(partial.stability[k] == full.stability[k] for k in own)
    assert calls[-1][0] == calls[-1][1] == len(calls)

    # Subsystems may be given by their stable entries alone.
    lean = [e for e in entries if e.entry_id in own or full.stability[e.entry_id].on_hull]
    assert compute_hull(lean, refs, chemsys=wanted).stability == partial.stability


def test_it_names_the_systems_a_new_entry_can_change(lfpo, catalogue, refs):
    entries, before = lfpo
    new = HullEntry("deep-lithium-peroxide", "Li2O2", 4 * (refs["Li"] / 2 + refs["O"] / 2 - 3.0))
    after = compute_hull([*entries, new], refs)
    existing = {chemsys_of(e.composition) for e in entries}
    affected = affected_chemsys(["O-Li"], existing)
    changed = {s.chemsys for k, s in before.stability.items() if s != after.stability[k]}
    assert changed and changed <= affected
    assert affected == {s for s in existing if {"Li", "O"} <= set(s.split("-"))}
    recomputed = compute_hull([*entries, new], refs, chemsys=affected)
    assert recomputed.stability == {k: s for k, s in after.stability.items() if s.chemsys in affected}

    on_catalogue = affected_chemsys(["Li-O"], catalogue.systems)
    assert on_catalogue == {s for s in catalogue.systems if {"Li", "O"} <= set(s.split("-"))}


def test_it_lists_the_new_systems_and_the_existing_systems_containing_them():
    existing = ["Li", "O", "Li-O", "Fe-O", "Fe-Li-O", "Li-O-P", "Fe-Li-O-P", "Li-P"]
    assert affected_chemsys(["Li-O"], existing) == {"Li-O", "Fe-Li-O", "Li-O-P", "Fe-Li-O-P"}
    assert affected_chemsys(["O-Li-Mn"], existing) == {"Li-Mn-O"}  # a new system counts itself
    assert affected_chemsys(["Fe"], existing) == {"Fe", "Fe-O", "Fe-Li-O", "Fe-Li-O-P"}
    assert affected_chemsys([], existing) == set()
    with pytest.raises(ValueError, match="Xx"):
        affected_chemsys(["Li-Xx"], existing)


# ---- bad input ----------------------------------------------------------------------------------


def test_it_rejects_bad_input_with_clear_errors(lfpo, refs):
    _, result = lfpo
    index = result.index
    with pytest.raises(ValueError, match=r"unparsable formula 'Li2O\)'"):
        index.query("Li2O)", energy_ev=-10.0)
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        index.query("Xx2O", energy_ev=-10.0)
    with pytest.raises(NotPlaceableError, match="no elemental reference for Yb"):
        index.query("LiYbO2", energy_ev=-10.0)
    for bad in (math.nan, math.inf, "a lot"):
        with pytest.raises(NotPlaceableError, match="energy is not"):
            index.query("Li2O", energy_ev=bad)
    with pytest.raises(ValueError, match="exactly one"):
        index.query("Li2O", energy_ev=-10.0, energy_ev_per_atom=-3.0)
    with pytest.raises(ValueError, match="exactly one"):
        index.query("Li2O")
    with pytest.raises(ValueError, match="entry 'x': unparsable formula"):
        compute_hull([HullEntry("x", "Li2(O", -10.0)], refs)
    with pytest.raises(ValueError, match="duplicate entry id 'x'"):
        compute_hull([HullEntry("x", "Li2O", -10.0), HullEntry("x", "LiO", -8.0)], refs)
    with pytest.raises(ValueError, match="unknown element 'Qq'"):
        compute_hull([], {"Qq": -1.0})
    assert issubclass(NotPlaceableError, ValueError)


def test_it_imports_nothing_from_django():
    code = "import sys, hullapi.engine; sys.exit(any(m.split('.')[0] == 'django' for m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


def test_forked_workers_give_exactly_the_serial_result(selection_entries, selection_hull, refs, monkeypatch):
    from hullapi import engine

    monkeypatch.setattr(engine, "PARALLEL_MIN_SYSTEMS", 1)  # every level through the pool, in chunks of 2
    monkeypatch.setattr(engine, "_PARALLEL_CHUNK", 2)
    calls: list[tuple[int, int]] = []
    parallel = compute_hull(selection_entries, refs, workers=2, progress=lambda done, total: calls.append((done, total)))
    assert parallel.stability == selection_hull.stability and parallel.not_placed == selection_hull.not_placed
    assert len(parallel.stability) > 100 and calls[-1][0] == calls[-1][1] == len(calls)
    formula, energy = "Li2MnO3", -40.0
    assert parallel.index.query(formula, energy_ev=energy) == selection_hull.index.query(formula, energy_ev=energy)
