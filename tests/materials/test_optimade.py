"""The OPTIMADE API on a real slice of the catalogue: the reference validator, real clients, filters, errors."""

from __future__ import annotations

import csv
import gzip
import json
import logging
import math

import pytest
from pymatgen.core import Composition, Structure
from rest_framework.throttling import AnonRateThrottle

from hullapi import services
from hullapi.models import HullSet, Stability
from materials.models import Material
from materials.optimade import filters

from ..conftest import _inside, hull_phases_of, load_rows

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def optimade_rows(data_dir, mp_rows):
    """The first 200 rows of the GNoME sample, all its Li ternaries and its rows in the test systems (rows whose
    elements all have a reference, so that every one has a place on the hull), with the MP hull phases of their
    subsystems.

    The reference validator checks its filters on one entry it picks at random and counts a null value of
    a provider property as a failure, so the rows here have every listed property; nulls (an element
    without reference) are tested with IS UNKNOWN below.
    """
    with open(data_dir / "elemental_references.csv", newline="") as fh:
        refs = {row["element"] for row in csv.DictReader(fh)}
    gnome = []
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        for i, line in enumerate(fh):
            row = json.loads(line)
            elements = set(row["elements"].split("-"))
            placeable = elements <= refs and row["e_form_per_atom"] is not None and math.isfinite(row["e_form_per_atom"])
            if placeable and (i < 200 or ("Li" in elements and len(elements) == 3) or _inside(elements)):
                gnome.append(row)
    return hull_phases_of(gnome, mp_rows), gnome


@pytest.fixture
def served(tmp_path, optimade_rows, mp_rows, data_dir):
    mp, gnome = optimade_rows
    load_rows(tmp_path, mp, gnome, list(mp_rows[0]))
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    return {m.material_id: m for m in Material.objects.exclude(structure__isnull=True)}


@pytest.fixture
def unthrottled(monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "100000/min"})


def get(client, path, **params):
    return client.get(f"/optimade/v1/{path}", params)


def all_ids(client, flt: str) -> list[str]:
    """Every id the filter returns, following links.next page by page."""
    ids: list[str] = []
    response = get(client, "structures", filter=flt, page_limit=7, response_fields="nelements")
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        ids += [d["id"] for d in body["data"]]
        if not body["links"]["next"]:
            assert body["meta"]["more_data_available"] is False
            assert body["meta"]["data_returned"] == len(ids)
            return ids
        response = client.get(body["links"]["next"])


@pytest.mark.django_db(transaction=True)
def test_the_reference_validator_reports_no_failure_against_a_live_server(live_server, served, unthrottled):
    from optimade.validator import ImplementationValidator

    validator = ImplementationValidator(base_url=f"{live_server.url}/optimade/v1", run_optional_tests=True,
                                        verbosity=-1)
    logging.getLogger("optimade").setLevel(logging.CRITICAL)
    validator.validate_implementation()
    results = validator.results
    assert results.failure_count == 0, results.failure_messages
    assert results.internal_failure_count == 0, results.internal_failure_messages
    assert results.optional_failure_count == 0, results.optional_failure_messages
    assert results.success_count >= 35 and results.optional_success_count >= 5


@pytest.mark.django_db(transaction=True)
def test_pymatgen_and_optimade_clients_get_the_li_ternaries_the_rest_api_returns(live_server, served, unthrottled,
                                                                                client):
    from optimade.client import OptimadeClient
    from pymatgen.ext.optimade import OptimadeRester

    rest = client.get("/api/v1/materials/", {"elements": "Li", "nelements_min": 3, "nelements_max": 3,
                                             "has_structure": "true", "_per_page": 1000,
                                             "_fields": "material_id"}).json()
    expected = {d["material_id"] for d in rest["data"]}
    assert len(expected) == rest["meta"]["total_doc"] > 20  # more than one OPTIMADE page (20)

    rester = OptimadeRester([f"{live_server.url}/optimade/"])
    got = rester.get_structures(elements=["Li"], nelements=3)
    structures = next(iter(got.values()))
    assert set(structures) == expected
    some_id, structure = next(iter(structures.items()))
    assert structure.matches(served[some_id].get_structure(), scale=False)

    optimade = OptimadeClient(base_urls=[f"{live_server.url}/optimade"], use_async=False, silent=True)
    flt = 'elements HAS "Li" AND nelements=3'
    results = optimade.get(flt)["structures"][flt][f"{live_server.url}/optimade"]
    assert not results["errors"]
    assert {d["id"] for d in results["data"]} == expected
    assert optimade.count(flt)["structures"][flt][f"{live_server.url}/optimade"] == len(expected)


def _every(served, predicate) -> set[str]:
    return {mid for mid, m in served.items() if predicate(m)}


def _stab(m):
    return Stability.objects.get(material=m, hull_set=HullSet.ALL).e_above_hull_ev_per_atom


CASES = [
    ('elements HAS "Li"', lambda m: "Li" in m.elements),
    ('elements HAS ALL "Li","O","P"', lambda m: {"Li", "O", "P"} <= set(m.elements)),
    ('elements HAS ANY "Co","Cl"', lambda m: bool({"Co", "Cl"} & set(m.elements))),
    ('elements HAS ONLY "Li","Co","O"', lambda m: set(m.elements) <= {"Li", "Co", "O"}),
    ('NOT elements HAS ANY "Li","Na"', lambda m: not {"Li", "Na"} & set(m.elements)),
    ('elements HAS ALL "Li","Xx"', lambda m: False),
    ("elements LENGTH 4", lambda m: m.nelements == 4),
    ("elements LENGTH >= 4", lambda m: m.nelements >= 4),
    ('species_at_sites HAS ALL "Fe","P"', lambda m: {"Fe", "P"} <= set(m.elements)),
    ("cartesian_site_positions LENGTH < 12", lambda m: m.nsites < 12),
    ("nsites > 10 AND nsites <= 28", lambda m: 10 < m.nsites <= 28),
    ("28 >= nsites", lambda m: m.nsites <= 28),
    ("nelements != 3 OR nsites = 7", lambda m: m.nelements != 3 or m.nsites == 7),
    ('chemical_formula_reduced = "FeLiO4P"', lambda m: Composition(m.formula).reduced_formula == "LiFePO4"),
    ('chemical_formula_anonymous = "A2BC"', lambda m: m.chemical_formula_anonymous == "A2BC"),
    ('chemical_formula_descriptive CONTAINS "Mn"', lambda m: "Mn" in m.formula),
    ('chemical_formula_reduced STARTS WITH "Fe"', lambda m: m.chemical_formula_reduced.startswith("Fe")),
    ('chemical_formula_reduced ENDS "P"', lambda m: m.chemical_formula_reduced.endswith("P")),
    ('id = "{first}" OR id = "{second}"', None),
    ("nperiodic_dimensions = 3", lambda m: True),
    ('structure_features HAS "disorder"', lambda m: False),
    ("structure_features LENGTH 0", lambda m: True),
    ("space_group_it_number >= 100", lambda m: (m.spacegroup_number or 0) >= 100),
    ('_gnx_crystal_system = "orthorhombic"', lambda m: m.crystal_system == "orthorhombic"),
    ("_gnx_formation_energy_per_atom < -2.5", lambda m: m.e_form_ev_per_atom is not None and m.e_form_ev_per_atom < -2.5),
    ("_gnx_energy_above_hull <= 0.001", lambda m: _stab(m) is not None and _stab(m) <= 0.001),
    ("_gnx_energy_above_hull IS UNKNOWN", lambda m: _stab(m) is None),
    ('_gnx_license = "CC-BY-NC-4.0"', lambda m: m.licence == "CC-BY-NC-4.0"),
    ('_gnx_source != "mp"', lambda m: m.source != "mp"),
    ("_gnx_band_gap IS KNOWN", lambda m: m.band_gap_ev is not None),
    ("_odbx_thing = 3", lambda m: False),
    ("_odbx_thing IS UNKNOWN", lambda m: True),
    ('(elements HAS "Mn" OR elements HAS "Fe") AND NOT nsites > 20', lambda m: bool({"Mn", "Fe"} & set(m.elements))
     and m.nsites <= 20),
]


def test_each_filter_returns_exactly_the_materials_it_describes(client, served, unthrottled):
    wrong, empty = [], []
    for flt, predicate in CASES:
        if predicate is None:
            first, second = sorted(served)[:2]
            flt, predicate = flt.format(first=first, second=second), (lambda m, a=first, b=second: m.material_id in (a, b))
        expected = _every(served, predicate)
        got = all_ids(client, flt)
        if sorted(got) != sorted(expected):
            wrong.append((flt, len(got), len(expected)))
        if not expected:
            empty.append(flt)
    assert not wrong
    # the table is not vacuous: all but the filters meant to match nothing select real materials
    assert set(empty) == {'elements HAS ALL "Li","Xx"', 'structure_features HAS "disorder"', "_odbx_thing = 3",
                          "_gnx_band_gap IS KNOWN", "_gnx_energy_above_hull IS UNKNOWN"}


def test_the_example_queries_select_real_materials(client, served):
    for flt in ('elements HAS ALL "Li","O" AND nelements=3', 'elements HAS ONLY "Li","Co","O"',
                'NOT elements HAS ANY "U","Pu"', "_gnx_energy_above_hull < 0.025"):
        body = get(client, "structures", filter=flt).json()
        assert body["meta"]["data_returned"] > 0, flt


def test_an_entry_carries_its_structure_energies_and_licence(client, served):
    material = next(m for m in served.values() if m.source == "gnome" and m.nelements == 4)
    body = get(client, f"structures/{material.material_id}").json()
    attributes = body["data"]["attributes"]
    assert body["data"]["id"] == material.material_id and body["data"]["type"] == "structures"
    rebuilt = Structure(attributes["lattice_vectors"], attributes["species_at_sites"],
                        attributes["cartesian_site_positions"], coords_are_cartesian=True)
    assert rebuilt.matches(material.get_structure(), scale=False)
    assert attributes["elements"] == sorted(material.elements)
    assert attributes["chemical_formula_reduced"] == material.chemical_formula_reduced
    assert sum(attributes["elements_ratios"]) == pytest.approx(1.0)
    assert attributes["_gnx_formation_energy_per_atom"] == material.e_form_ev_per_atom
    assert attributes["_gnx_energy_method"] == material.energy_method
    assert material.calculations.get(method=material.energy_method).kind == "dft"
    assert attributes["_gnx_energy_above_hull"] == _stab(material)
    assert attributes["_gnx_license"] == "CC-BY-NC-4.0"


def test_sort_and_response_fields(client, served):
    body = get(client, "structures", sort="-nsites", page_limit=50, response_fields="nsites,elements,bogus_field").json()
    sizes = [d["attributes"]["nsites"] for d in body["data"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == max(m.nsites for m in served.values())
    assert set(body["data"][0]["attributes"]) == {"nsites", "elements"}
    assert any("bogus_field" in w["detail"] for w in body["meta"]["warnings"])


ERRORS = [
    ("structures", {"filter": "nsites >"}, 400, "does not parse"),
    ("structures", {"filter": "crazyfield = 2"}, 400, "unknown property 'crazyfield'"),
    ("structures", {"filter": "_gnx_nonsense = 2"}, 400, "unknown property '_gnx_nonsense'"),
    ("structures", {"filter": 'nsites = "many"'}, 400, "nsites is of type integer"),
    ("structures", {"filter": "elements = 3"}, 400, "elements is a list"),
    ("structures", {"filter": 'elements:species_at_sites HAS "Li":"Li"'}, 501, "correlated HAS"),
    ("structures", {"filter": "elements HAS < 3"}, 501, "operators inside HAS"),
    ("structures", {"filter": "nsites = nelements"}, 501, "two properties"),
    ("structures", {"filter": "_gnx_is_stable = TRUE"}, 501, "_gnx_energy_above_hull <= 0.00005"),
    ("structures", {"filter": "(chemical_formula_anonymous='A2B')"}, 400, "does not parse"),
    ("structures", {"page_limit": "1001"}, 403, "above the maximum of 1000"),
    ("structures", {"page_limit": "ten"}, 400, "not an integer"),
    ("structures", {"page_limit": "0"}, 400, "page_limit must be at least 1"),
    ("structures", {"page_limit": "-3"}, 400, "page_limit cannot be negative"),
    ("structures", {"page_limit": ""}, 400, "page_limit is empty"),
    ("structures", {"page_limit": "2.5"}, 400, "not an integer"),
    ("structures", {"page_offset": "-1"}, 400, "page_offset cannot be negative"),
    ("structures", {"page_number": "0"}, 400, "page_number starts at 1"),
    ("structures", {"page_number": "2", "page_offset": "5"}, 400, "not both"),
    ("structures", {"sort": "species"}, 400, "cannot sort by 'species'"),
    ("structures", {"response_format": "xml"}, 400, "only 'json'"),
    ("structures", {"include": "calculations"}, 400, "no relationships"),
    ("structures/no-such-id", {}, 404, "no structure with id"),
]


def test_errors_are_json_api_documents_with_the_right_status(client, served, unthrottled):
    for path, params, status, words in ERRORS:
        response = get(client, path, **params)
        assert response.status_code == status, (params, response.content)
        assert response["Content-Type"] == "application/vnd.api+json"
        body = response.json()
        assert body["errors"][0]["status"] == str(status) and words in body["errors"][0]["detail"], body
        assert body["meta"]["api_version"] == "1.2.0"


def test_versions_unsupported_versions_and_cors(client, served):
    versions = client.get("/optimade/versions")
    assert versions.content == b"version\n1\n" and versions["Content-Type"] == "text/csv; header=present"
    assert client.get("/optimade/v1/versions").status_code == 404
    assert client.get("/optimade/v2/info").status_code == 553
    assert client.get("/optimade/v1.2.0/info").json()["data"]["attributes"]["api_version"] == "1.2.0"
    for url in ("/optimade/v1/structures", "/api/v1/materials/"):
        response = client.get(url, HTTP_ORIGIN="https://optimade.science")
        assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in client.get("/admin/login/", HTTP_ORIGIN="https://x.org")
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert {"/optimade/v1/structures", "/optimade/v1/structures/{entry_id}", "/optimade/v1/info"} <= set(schema["paths"])
    assert "/optimade/v1.2/structures" not in str(schema["paths"])


def test_the_filter_translator_never_puts_values_into_sql(served):
    q = filters.parse('chemical_formula_descriptive = "x\\" OR 1=1 --"')
    sql, params = Material.objects.filter(q).query.sql_with_params()
    assert 'x" OR 1=1 --' in params and "1=1" not in sql
    assert not Material.objects.filter(q).exists()


def test_the_throttle_answers_429_as_a_json_api_error(client, served, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min"})
    codes = [get(client, "info").status_code for _ in range(3)]
    response = get(client, "info")
    assert codes[:2] == [200, 200] and response.status_code == 429
    assert int(response["Retry-After"]) > 0 and response.json()["errors"][0]["status"] == "429"


def test_pages_by_id_go_by_value_and_sorted_pages_by_offset(client, served, unthrottled):
    first = get(client, "structures", page_limit=5).json()
    assert "page_above=" in first["links"]["next"] and first["meta"]["more_data_available"] is True
    second = client.get(first["links"]["next"]).json()
    ids = [d["id"] for d in first["data"] + second["data"]]
    assert ids == sorted(ids) and len(set(ids)) == 10  # the next page starts right after the first
    assert [d["id"] for d in get(client, "structures", page_limit=10).json()["data"]] == ids
    by_sites = get(client, "structures", page_limit=5, sort="nsites").json()
    assert "page_offset=5" in by_sites["links"]["next"]
    bad = get(client, "structures", page_above=ids[0], sort="nsites")
    assert bad.status_code == 400 and "page_above" in bad.json()["errors"][0]["detail"]
