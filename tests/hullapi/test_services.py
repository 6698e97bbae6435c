"""Stored stability on a real slice of the catalogue: agreement with pymatgen, incremental recompute, locking."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from hullapi import services
from hullapi.models import HULL_SET_SOURCES, HullRun, HullSet, Stability
from materials.importing import references
from materials.models import Material, Source

pytestmark = pytest.mark.django_db


def pymatgen_diagram(hull_set: str, chemsys: str | None = None) -> tuple[PhaseDiagram, dict[str, PDEntry]]:
    refs = references()
    members = Material.objects.filter(source__in=HULL_SET_SOURCES[hull_set], energy_corrected_ev__isnull=False)
    if chemsys:
        members = members.filter(chemsys__in=services.subsystems([chemsys]))
    entries = {m: PDEntry(Composition(f), e, name=m)
               for m, f, e in members.values_list("material_id", "formula", "energy_corrected_ev")}
    elements = ({el.symbol for e in entries.values() for el in e.composition.elements}
                | set(chemsys.split("-") if chemsys else []))
    terminals = [PDEntry(Composition(el), refs[el], name=f"ref:{el}") for el in elements if el in refs]
    placeable = {k: v for k, v in entries.items() if all(el.symbol in refs for el in v.composition.elements)}
    return PhaseDiagram([*terminals, *placeable.values()]), placeable


@pytest.mark.parametrize("hull_set", [HullSet.ALL, HullSet.MP])
def test_stored_stability_agrees_with_pymatgen(catalogue, hull_set):
    run = services.recompute(hull_set)
    assert run.status == HullRun.Status.SUCCEEDED and run.entries == Material.objects.count()
    rows = {s.material.material_id: s for s in Stability.objects.filter(hull_set=hull_set).select_related("material")}
    assert set(rows) == set(Material.objects.values_list("material_id", flat=True))
    systems = {s.material.chemsys for s in rows.values() if s.is_member and s.e_above_hull_ev_per_atom is not None}
    checked = 0
    for system in systems:
        diagram, entries = pymatgen_diagram(hull_set, system)
        for material_id, entry in entries.items():
            stored = rows[material_id]
            if stored.material.chemsys != system:
                continue
            checked += 1
            decomposition, e_above = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
            assert stored.is_member and stored.hull_run_id == run.pk
            assert stored.e_above_hull_ev_per_atom == pytest.approx(e_above, abs=1e-6), material_id
            assert {i: round(f, 6) for i, f in stored.decomposition} == {
                e.name: round(f, 6) for e, f in decomposition.items()
            }, material_id
            if stored.is_stable and len(entry.composition) > 1:
                # Exactly: the energy above the hull rebuilt without every entry of this composition.
                reduced = entry.composition.reduced_composition
                others = [e for e in diagram.all_entries if e.composition.reduced_composition != reduced]
                exact = PhaseDiagram(others).get_e_above_hull(entry, allow_negative=True)
                assert stored.phase_separation_ev_per_atom == pytest.approx(exact, abs=1e-6), material_id
                # pymatgen's own function solves the same problem with an iterative optimiser (SLSQP),
                # which stops up to ~1e-5 eV/atom short in some systems (Fe6P18O54: -0.0873875 vs -0.0873775).
                _, separation = diagram.get_decomp_and_phase_separation_energy(entry)
                assert stored.phase_separation_ev_per_atom == pytest.approx(separation, abs=5e-5), material_id
    assert checked == sum(1 for s in rows.values() if s.is_member and s.e_above_hull_ev_per_atom is not None)


def test_non_members_are_placed_against_the_mp_hull(catalogue):
    services.recompute(HullSet.MP)
    gnome = Stability.objects.filter(hull_set=HullSet.MP, material__source=Source.GNOME).select_related("material")
    assert gnome.exists()
    for row in gnome:
        m = row.material
        assert not row.is_member
        if m.energy_corrected_ev is None:
            assert row.e_above_hull_ev_per_atom is None and row.note == m.energy_note != ""
            continue
        diagram, _ = pymatgen_diagram(HullSet.MP, m.chemsys)
        expected = diagram.get_e_above_hull(PDEntry(Composition(m.formula), m.energy_corrected_ev), allow_negative=True)
        assert row.e_above_hull_ev_per_atom == pytest.approx(expected, abs=1e-6)


def test_stable_phases_of_li_mn_o_equal_pymatgens(catalogue):
    services.recompute(HullSet.ALL)
    diagram, entries = pymatgen_diagram(HullSet.ALL, "Li-Mn-O")
    ours = set(
        Stability.objects.filter(hull_set=HullSet.ALL, is_stable=True,
                                 material__chemsys__in=services.subsystems(["Li-Mn-O"]))
        .values_list("material__material_id", flat=True)
    )
    theirs = {e.name for e in diagram.stable_entries if not e.name.startswith("ref:")}
    assert ours == theirs and len(ours) > 5


def test_snapshot_rows_carry_the_published_figure_beside_ours(catalogue):
    services.recompute(HullSet.ALL)
    row = Stability.objects.filter(hull_set=HullSet.ALL, material__source=Source.MP).exclude(published_column="").first()
    assert row.published_column == "decomposition_energy_per_atom_all"
    assert row.published_e_above_hull_ev_per_atom == pytest.approx(
        float(row.material.extra["published"]["decomposition_energy_per_atom_all"])
    )
    assert row.disagrees == (abs(row.e_above_hull_ev_per_atom - row.published_e_above_hull_ev_per_atom) > 0.025)


def add_discovery(formula: str, e_form: float) -> Material:
    """A verified material below the current hull, as a discovery round would store it."""
    refs = references()
    comp = Composition(formula)
    energy = e_form * comp.num_atoms + sum(n * refs[el.symbol] for el, n in comp.items())
    elements = sorted(el.symbol for el in comp.elements)
    return Material.objects.create(
        material_id="gnx-test-0001", source=Source.DISCOVERY, licence="CC-BY-4.0", formula=comp.formula,
        formula_reduced=comp.reduced_formula, formula_anonymous=comp.anonymized_formula, chemsys="-".join(elements),
        elements=elements, nelements=len(elements), nsites=int(comp.num_atoms), e_form_ev_per_atom=e_form,
        energy_corrected_ev=energy, energy_method="test evaluator", dataset="test", row_hash="x",
    )


def test_an_entry_below_the_hull_recomputes_only_its_system_and_supersets(catalogue):
    first = services.recompute(HullSet.ALL)
    hull_energy = services.query_stability(HullSet.ALL, "Li2MnO3", energy_ev_per_atom=0)
    # 50 meV/atom below the hull at Li2MnO3: it must push phases near that composition off the hull.
    new = add_discovery("Li2MnO3", hull_energy.e_form_ev_per_atom - hull_energy.e_above_hull_ev_per_atom - 0.05)
    before = dict(Stability.objects.filter(hull_set=HullSet.ALL).values_list("material__material_id", "is_stable"))
    [run_all, run_mp] = services.recompute_for_materials([new.material_id])
    assert run_all.scope == ["Li-Mn-O"] and run_mp.scope == ["Li-Mn-O"]
    recomputed = set(Stability.objects.filter(hull_set=HullSet.ALL, hull_run=run_all)
                     .values_list("material__chemsys", flat=True))
    assert recomputed == {"Li-Mn-O", "Li-Mn-O-P"}
    untouched = Stability.objects.filter(hull_set=HullSet.ALL).exclude(material__chemsys__in=recomputed)
    assert set(untouched.values_list("hull_run", flat=True)) == {first.pk}

    after = dict(Stability.objects.filter(hull_set=HullSet.ALL).values_list("material__material_id", "is_stable"))
    assert after[new.material_id] is True
    flipped = {m for m in before if before[m] and not after[m]}
    assert flipped, "a phase 50 meV/atom below the hull must destabilise a neighbour"
    # The incremental result is the full result.
    incremental = list(Stability.objects.filter(hull_set=HullSet.ALL).order_by("material_id").values_list(
        "material_id", "e_above_hull_ev_per_atom", "is_stable"))
    services.recompute(HullSet.ALL)
    full = list(Stability.objects.filter(hull_set=HullSet.ALL).order_by("material_id").values_list(
        "material_id", "e_above_hull_ev_per_atom", "is_stable"))
    assert [(m, round(e or 0, 9), s) for m, e, s in incremental] == [(m, round(e or 0, 9), s) for m, e, s in full]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_recomputes_do_not_interleave(catalogue):
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    errors = []

    def run():
        try:
            services.recompute(HullSet.ALL)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    first, second = sorted(HullRun.objects.filter(hull_set=HullSet.ALL), key=lambda r: r.pk)
    assert second.started_at >= first.finished_at  # the second waited for the first
    assert set(Stability.objects.filter(hull_set=HullSet.ALL).values_list("hull_run", flat=True)) == {second.pk}


def test_unknown_hull_set_is_refused(db):
    with pytest.raises(ValueError, match="unknown hull set 'oqmd'"):
        services.recompute("oqmd")


def test_an_upload_is_placed_on_both_hulls_once_committed(catalogue, tmp_path, django_capture_on_commit_callbacks):
    import io

    from django.core.management import call_command
    from pymatgen.core import Lattice, Structure

    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    rocksalt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    rocksalt.to(filename=str(tmp_path / "NaCl.cif"))
    nacl = Stability.objects.get(hull_set=HullSet.MP, material__source=Source.MP, material__formula_reduced="NaCl",
                                 is_stable=True).material
    energy = nacl.energy_corrected_ev / nacl.nsites * 8 + 8 * 0.03  # 30 meV/atom above the stable NaCl
    (tmp_path / "energies.csv").write_text(f"file,energy_ev\nNaCl.cif,{energy}\n")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_structures", str(tmp_path / "NaCl.cif"), energies=str(tmp_path / "energies.csv"),
                     stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0, workers=1)
    upload = Material.objects.get(source=Source.UPLOAD)
    for hull_set in (HullSet.ALL, HullSet.MP):
        row = Stability.objects.get(material=upload, hull_set=hull_set)
        assert not row.is_member
        assert row.e_above_hull_ev_per_atom == pytest.approx(0.03, abs=1e-6)
        assert HullRun.objects.filter(hull_set=hull_set).first().scope == ["Cl-Na"]  # only the upload's system
