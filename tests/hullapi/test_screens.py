"""Families of interest on real data: electrochemical windows, the Li-ion conductor funnel, layered
materials and Li-Mn oxides, through the service, the command and the REST API."""

from __future__ import annotations

import ast
import io

import pytest
from django.core.management import call_command

from hullapi import screening, services
from hullapi.electrochem import li_window
from hullapi.models import HullSet, Stability
from materials.models import Material, ScreenRun
from materials.screens import (
    FAIL,
    LI_CONDUCTOR,
    PASS,
    UNKNOWN,
    Criteria,
    Record,
    run_funnel,
)

from ..conftest import write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def li_p_s_o(tmp_path, mp_rows):
    """The Materials Project hull phases of Li-P-S and Li-O (and their subsystems), imported and on the hull."""
    rows = [r for r in mp_rows if set(ast.literal_eval(r["Elements"])) <= {"Li", "P", "S"}
            or set(ast.literal_eval(r["Elements"])) <= {"Li", "O"}]
    call_command("import_mp_hull", str(write_csv(tmp_path / "mp.csv", rows, list(mp_rows[0]))),
                 stdout=io.StringIO(), stderr=io.StringIO(), verbosity=0, workers=1)
    services.recompute(HullSet.ALL)
    return rows


def _lowest(formula: str) -> Material:
    return min(Material.objects.filter(formula_reduced=formula), key=lambda m: m.energy_corrected_ev / m.nsites)


def test_windows_of_li3ps4_and_li2o_match_the_published_values(li_p_s_o):
    li3ps4, li2o = _lowest("Li3PS4"), _lowest("Li2O")
    found = screening.windows([li3ps4.material_id, li2o.material_id])
    # Zhu, He and Mo 2015 (PBE): Li3PS4 1.71-2.31 V, Li2O 0-2.91 V vs Li/Li+
    assert found[li3ps4.material_id].reduction_v == pytest.approx(1.71, abs=0.05)
    assert found[li3ps4.material_id].oxidation_v == pytest.approx(2.31, abs=0.1)
    assert found[li2o.material_id].reduction_v == 0.0
    assert 2.6 < found[li2o.material_id].oxidation_v < 3.0
    assert li3ps4.material_id in found[li3ps4.material_id].reduction_products
    # stored: asked again, nothing is recomputed
    again = screening.windows([li3ps4.material_id])
    assert again[li3ps4.material_id].pk == found[li3ps4.material_id].pk


def test_a_phase_above_the_hull_is_lowered_onto_it_and_says_so(li_p_s_o):
    li3ps4 = _lowest("Li3PS4")
    phases = list(Stability.objects.filter(hull_set="all", is_stable=True).values_list(
        "material__material_id", "material__formula", "material__energy_corrected_ev"))
    refs = services.references()
    on = li_window((li3ps4.material_id, li3ps4.formula, li3ps4.energy_corrected_ev), phases, refs)
    lifted = li_window(("x", li3ps4.formula, li3ps4.energy_corrected_ev + 0.05 * li3ps4.nsites), phases, refs)
    assert on.shifted_ev_per_atom == 0.0 and lifted.shifted_ev_per_atom == pytest.approx(0.05, abs=1e-3)
    assert lifted.reduction_v == pytest.approx(on.reduction_v, abs=0.02)
    with pytest.raises(ValueError, match="contains no Li"):
        li_window(("y", "P2S5", -50.0), phases, refs)


def test_the_funnel_counts_add_up_and_unknowns_are_carried_not_decided():
    records = [
        Record("a", "gnome", ("Li", "P", "S"), 0.375, 0.0, band_gap_ev=2.5, window=(0.5, 3.0)),
        Record("b", "gnome", ("Li", "P", "S"), 0.375, 0.0, band_gap_ev=None, window=(0.5, 3.0)),
        Record("c", "gnome", ("Li", "P", "S"), 0.375, 0.0, band_gap_ev=0.2, window=(0.5, 3.0)),
        Record("d", "gnome", ("Fe", "Li", "O"), 0.3, 0.0, band_gap_ev=3.0),
        Record("e", "mp", ("Cl", "Na"), 0.0, 0.0),
        Record("f", "gnome", ("Li", "O"), 0.66, None, band_gap_ev=5.0, window=(0.0, 2.9)),
        Record("g", "gnome", ("Li", "S"), 0.66, 0.0, band_gap_ev=3.0, window=(1.5, 2.0)),
    ]
    result = run_funnel(records, LI_CONDUCTOR, Criteria())
    previous_output = len(records)
    for stage in result.counts():
        assert stage["input"] == previous_output == stage["passed"] + stage["failed"] + stage["unknown"]
        previous_output = stage["output"]
    assert result.ids("candidate") == ["a"]
    assert result.ids("unknown") == ["b", "f"]  # no band gap / not placed on the hull: carried, flagged
    outcomes = result.outcomes
    assert outcomes["c"].failed_stage == "band_gap" and outcomes["d"].failed_stage == "no_transition_metals"
    assert outcomes["e"].failed_stage == "contains_li" and outcomes["g"].failed_stage == "electrochemical_window"
    assert outcomes["b"].stages["band_gap"]["result"] == UNKNOWN
    assert outcomes["g"].stages["electrochemical_window"] == {"result": FAIL, "why": (
        "stable from 1.50 to 2.00 V vs Li/Li+: reduced above 1.0 V")}
    assert outcomes["a"].stages["li_fraction"]["result"] == PASS
    assert result.summary() == {"candidates": 1, "passed_with_unknowns": 2, "candidates_by_source": {"gnome": 1},
                                "passed_with_unknowns_by_source": {"gnome": 2}}


def test_criteria_are_checked_and_named():
    assert Criteria.from_params({"min_li_fraction": "0.3", "exclude_f_block": "true"}).min_li_fraction == 0.3
    for params, words in [({"min_li_fraction": "lots"}, "min_li_fraction: 'lots'"), ({"colour": "red"}, "colour"),
                          ({"hull": "oqmd"}, "hull"), ({"min_li_fraction": "1.5"}, "between 0 and 1"),
                          ({"sources": "icsd"}, "unknown source 'icsd'")]:
        with pytest.raises(ValueError, match=words):
            Criteria.from_params(params)


@pytest.fixture
def screened(catalogue, li_p_s_o):
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    call_command("compute_dimensionality", workers=1, stdout=io.StringIO(), verbosity=0)


def test_the_li_conductor_screen_is_stored_reproducible_and_served(client, screened):
    out = io.StringIO()
    call_command("run_screen", "li_conductor", stdout=out)
    first = ScreenRun.objects.get()
    stages = first.stages
    assert [s["name"] for s in stages] == [s.name for s in LI_CONDUCTOR]
    assert stages[0]["input"] == Material.objects.count()
    for before, after in zip(stages, stages[1:], strict=False):
        assert after["input"] == before["output"]
    band_gap = next(s for s in stages if s["name"] == "band_gap")
    assert band_gap["unknown"] == band_gap["input"] > 0  # no band gaps in the data: all carried as unknown
    assert "contains_li" in out.getvalue() and f"run #{first.pk}" in out.getvalue()

    call_command("run_screen", "li_conductor", stdout=io.StringIO())
    second = ScreenRun.objects.first()
    assert second.pk != first.pk and second.stages == first.stages and second.summary == first.summary

    passed = set(second.results.filter(outcome="unknown").values_list("material__material_id", flat=True))
    assert passed and len(passed) == second.summary["passed_with_unknowns"]
    listed = client.get("/api/v1/materials/", {"screen": "li_conductor", "screen_outcome": "unknown",
                                               "_per_page": 1000, "_fields": "material_id"}).json()
    assert {d["material_id"] for d in listed["data"]} == passed
    some = sorted(passed)[0]
    detail = client.get(f"/api/v1/screens/li_conductor/materials/{some}").json()["data"]
    assert detail["outcome"] == "unknown" and [s["stage"] for s in detail["stages"]] == [s.name for s in LI_CONDUCTOR]
    sodium = Material.objects.filter(chemsys="Cl-Na").first().material_id
    assert client.get(f"/api/v1/screens/li_conductor/materials/{sodium}").json()["data"]["failed_stage"] == "contains_li"
    record = client.get(f"/api/v1/materials/{some}/").json()["data"][0]
    assert record["screens"]["li_conductor"]["outcome"] == "unknown"
    assert record["electrochemical_windows"]["all"]["unit"] == "V vs Li/Li+"


def test_a_preview_with_changed_criteria_changes_the_counts_and_stores_nothing(client, screened):
    call_command("run_screen", "li_conductor", stdout=io.StringIO())
    base = client.get("/api/v1/screens/li_conductor/").json()["data"]["latest_run"]
    strict = client.get("/api/v1/screens/li_conductor/preview", {"min_li_fraction": "0.5"}).json()["data"]
    fraction = {s["name"]: s for s in strict["stages"]}["li_fraction"]
    base_fraction = {s["name"]: s for s in base["stages"]}["li_fraction"]
    assert fraction["input"] == base_fraction["input"] and fraction["passed"] < base_fraction["passed"]
    assert ScreenRun.objects.count() == 1
    bad = client.get("/api/v1/screens/li_conductor/preview", {"min_li_fraction": "most"})
    assert bad.status_code == 400 and "min_li_fraction" in bad.json()
    assert client.get("/api/v1/screens/superconductors/").status_code == 404
    assert client.get("/api/v1/materials/", {"screen": "layered"}).status_code == 400  # not run yet


def test_li_mn_oxides_and_layered_materials(client, screened):
    call_command("run_screen", "li_mn_oxides", stdout=io.StringIO())
    run = ScreenRun.objects.get(screen="li_mn_oxides")
    mp_ehull = dict(Stability.objects.filter(hull_set="mp").values_list("material__material_id",
                                                                        "e_above_hull_ev_per_atom"))
    expected = {m.material_id for m in Material.objects.all()
                if {"Li", "Mn", "O"} <= set(m.elements) and len(m.elements) == 3
                and mp_ehull.get(m.material_id) is not None and mp_ehull[m.material_id] <= 5e-5}
    got = set(run.results.filter(outcome="candidate").values_list("material__material_id", flat=True))
    assert expected and got == expected  # the test systems have no Li-Mn-TM-O phases
    by_source = run.summary["candidates_by_source"]
    assert sum(by_source.values()) == len(expected) and by_source.get("mp", 0) > 0

    call_command("run_screen", "layered", stdout=io.StringIO())
    layered = ScreenRun.objects.get(screen="layered")
    two_d = {s["name"]: s for s in layered.stages}["layered"]
    assert two_d["input"] == Material.objects.filter(structure__isnull=False).count()
    assert two_d["passed"] == Material.objects.filter(dimensionality="2D").count()
    response = client.get("/api/v1/materials/", {"dimensionality": "2D,3D", "_per_page": 1000})
    assert response.json()["meta"]["total_doc"] == Material.objects.filter(dimensionality__in=["2D", "3D"]).count()
    assert client.get("/api/v1/materials/", {"dimensionality": "4D"}).status_code == 400
