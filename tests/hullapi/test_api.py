"""The hull REST API: a chemical system's phase diagram and the stability of hypothetical entries."""

from __future__ import annotations

import pytest

from hullapi import services
from hullapi.models import HullSet, Stability

pytestmark = pytest.mark.django_db


@pytest.fixture
def hulls(catalogue):
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)


def post(client, body):
    return client.post("/api/v1/hull/stability/", body, content_type="application/json")


def test_a_system_lists_every_phase_with_stability_and_plot_data(client, hulls):
    data = client.get("/api/v1/hull/O-Mn-Li/", {"hull": "all"}).json()
    assert data["chemsys"] == "Li-Mn-O" and data["elements"] == ["Li", "Mn", "O"]
    stored = Stability.objects.filter(hull_set="all", material__chemsys__in=services.subsystems(["Li-Mn-O"]))
    assert len(data["entries"]) == stored.count()
    assert set(data["stable"]) == set(stored.filter(is_stable=True, is_member=True)
                                      .values_list("material__material_id", flat=True))
    unstable = next(e for e in data["entries"] if not e["is_stable"] and e["e_above_hull_ev_per_atom"] is not None)
    assert sum(d["fraction"] for d in unstable["decomposition"]) == pytest.approx(1.0)
    assert all(d["formula"] for d in unstable["decomposition"])
    assert sum(unstable["fractions"]) == pytest.approx(1.0)
    assert data["completeness"]["binary_systems_without_phases"] == ["Li-Mn"]
    assert "DFT" in data["energies"]


def test_the_figure_is_a_plotly_phase_diagram(client, hulls):
    figure = client.get("/api/v1/hull/Li-Mn-O/figure/").json()
    assert figure["data"] and "layout" in figure
    assert "Li-Mn-O" in figure["layout"]["title"]["text"]


def test_the_figure_title_names_energies_from_a_potential_on_the_all_hull(client, hulls):
    """The "all" hull also holds discovery energies (a machine-learned potential): its title must not call
    them DFT; the "mp" hull holds DFT only."""
    from django.core.cache import cache

    from materials.models import Material, Source

    assert "DFT energies" in client.get("/api/v1/hull/Li-Mn-O/figure/").json()["layout"]["title"]["text"]
    found = Material.objects.filter(chemsys__in=["Li-O", "Mn-O", "Li-Mn-O"], energy_corrected_ev__isnull=False)
    Material.objects.filter(pk=found.first().pk).update(source=Source.DISCOVERY)  # as a round would store a hit
    cache.clear()  # a round's ingest starts a hull run, which makes a new data version; this update does not
    all_title = client.get("/api/v1/hull/Li-Mn-O/figure/", {"hull": "all"}).json()["layout"]["title"]["text"]
    assert "1 from a machine-learned potential" in all_title and "DFT energies" not in all_title
    mp_title = client.get("/api/v1/hull/Li-Mn-O/figure/", {"hull": "mp"}).json()["layout"]["title"]["text"]
    assert "DFT energies" in mp_title and "potential" not in mp_title


def test_a_hypothetical_entry_is_placed_in_milliseconds(client, hulls):
    m = Stability.objects.filter(hull_set="all", is_stable=True, material__chemsys="Li-Mn-O").first().material
    body = {"hull": "all", "entries": [
        {"formula": m.formula, "energy_ev": m.energy_corrected_ev + 0.1 * m.nsites},
        {"formula": m.formula_reduced, "energy_ev_per_atom": m.energy_corrected_ev / m.nsites - 0.05},
    ]}
    data = post(client, body).json()
    above, below = data["results"]
    assert above["e_above_hull_ev_per_atom"] == pytest.approx(0.1, abs=1e-6) and not above["is_stable"]
    assert below["e_above_hull_ev_per_atom"] < -0.0499 and below["is_stable"]
    assert above["decomposition"] == [{"material_id": m.material_id, "formula": m.formula_reduced, "fraction": 1.0}]
    assert data["hull_version"] == services.current_version("all")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"formula": "Li2Xx", "energy_ev": -5.0}, "Li2Xx"),
        ({"formula": "((Li", "energy_ev": -5.0}, "malformed formula"),
        ({"formula": "YbO", "energy_ev": -5.0}, "no elemental reference for Yb"),
        ({"formula": "LiO", "energy_ev": "lots"}, "energy_ev must be a finite number"),
        ({"formula": "LiO"}, "give exactly one of energy_ev"),
        ({"formula": "LiO", "energy_ev": -1, "energy_ev_per_atom": -1}, "give exactly one of energy_ev"),
        ({"formula": "HLiBeBCNOFNaMgAl", "energy_ev": -50}, "11 elements; at most 10"),
    ],
)
def test_bad_entries_get_a_400_that_names_the_problem(client, hulls, entry, message):
    response = post(client, {"entries": [entry]})
    assert response.status_code == 400
    assert message in str(response.json())


def test_too_many_entries_and_non_finite_energies_are_refused(client, hulls):
    response = post(client, {"entries": [{"formula": "LiO", "energy_ev": -1}] * 1001})
    assert response.status_code == 400 and "at most 1000" in str(response.json())
    response = client.post("/api/v1/hull/stability/", '{"entries": [{"formula": "LiO", "energy_ev": NaN}]}',
                           content_type="application/json")
    assert response.status_code == 400


def test_bad_systems_and_hull_sets_are_named(client, hulls):
    assert "unknown element(s): Qq" in str(client.get("/api/v1/hull/Li-Qq/").json())
    assert "unknown hull set 'oqmd'" in str(client.get("/api/v1/hull/Li-O/", {"hull": "oqmd"}).json())
    many = "-".join(["H", "Li", "Be", "B", "C", "N", "O", "F", "Na", "Mg", "Al"])
    assert client.get(f"/api/v1/hull/{many}/").status_code == 400
    assert client.get("/api/v1/hull/Li-Mn-O-P-Fe/figure/").status_code == 400
