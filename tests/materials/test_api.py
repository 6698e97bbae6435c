"""The REST API's Materials Project-style search on a real slice of the catalogue."""

from __future__ import annotations

import pytest
from pymatgen.core import Composition, Structure

from hullapi import services
from hullapi.models import HullSet, Stability
from materials.models import Material

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, catalogue):
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    return lambda **params: client.get("/api/v1/materials/", params)


def ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {d["material_id"] for d in response.json()["data"]}


def test_formula_matches_the_reduced_formula_and_comma_lists_are_ored(api):
    expected = set(Material.objects.filter(formula_reduced__in=["LiMnO2", "LiFePO4"]).values_list("material_id", flat=True))
    assert expected and ids(api(formula="LiMnO2,FePO4Li", _per_page=1000)) == expected


def test_an_anonymous_formula_matches_every_material_of_that_shape(api):
    expected = {m.material_id for m in Material.objects.all() if Composition(m.formula).anonymized_formula == "ABC4"}
    assert expected and ids(api(formula="ABC4", _per_page=1000)) == expected


@pytest.mark.parametrize(("formula", "named"), [("Li*O2", {"Li": 1, "O": 2}), ("Fe*PO4", {"Fe": 1, "P": 1, "O": 4}),
                                               ("Li2*2O4", {"Li": 1, "O": 2})])
def test_a_wildcard_formula_matches_one_other_element_per_star(api, formula, named):
    expected = set()
    for m in Material.objects.all():
        reduced = Composition(m.formula).reduced_composition
        amounts = {el.symbol: n for el, n in reduced.items()}
        others = [n for el, n in amounts.items() if el not in named]
        if all(amounts.get(el) == n for el, n in named.items()) and others == [1.0]:
            expected.add(m.material_id)
    assert expected and ids(api(formula=formula, _per_page=1000)) == expected


def test_has_structure_separates_crystals_from_energy_only_hull_phases(api):
    crystals = ids(api(has_structure="true", _per_page=1000))
    phases = ids(api(has_structure="false", _per_page=1000))
    assert crystals == set(Material.objects.filter(source="gnome").values_list("material_id", flat=True))
    assert phases == set(Material.objects.filter(source="mp").values_list("material_id", flat=True))


def test_chemsys_is_exact_and_a_wildcard_fixes_the_number_of_elements(api):
    exact = set(Material.objects.filter(chemsys="Li-Mn-O").values_list("material_id", flat=True))
    assert ids(api(chemsys="O-Mn-Li", _per_page=1000)) == exact
    wild = {m.material_id for m in Material.objects.all() if m.nelements == 3 and {"Li", "O"} <= set(m.elements)}
    assert wild and ids(api(chemsys="Li-*-O", _per_page=1000)) == wild


def test_elements_contain_all_and_exclusions_remove(api):
    expected = {m.material_id for m in Material.objects.all() if {"Li", "O"} <= set(m.elements) and "P" not in m.elements}
    assert expected and ids(api(elements="Li,O", exclude_elements="P", _per_page=1000)) == expected


def test_ranges_use_the_stored_values_inclusively(api):
    expected = {m.material_id for m in Material.objects.all()
                if m.e_form_ev_per_atom is not None and -2.0 <= m.e_form_ev_per_atom <= -1.0 and 3 <= m.nsites <= 30}
    got = ids(api(formation_energy_per_atom_min=-2.0, formation_energy_per_atom_max=-1.0, nsites_min=3, nsites_max=30,
                  _per_page=1000))
    assert expected and got == expected


def _sg(m, *numbers):
    return m.spacegroup_number in numbers


PARAMETER_CASES = [
    ({"nelements_min": 3, "nelements_max": 3}, lambda m: m.nelements == 3),
    ({"volume_min": 50, "volume_max": 5000}, lambda m: m.volume_a3 is not None and 50 <= m.volume_a3 <= 5000),
    ({"density_min": 4.5}, lambda m: m.density_g_cm3 is not None and m.density_g_cm3 >= 4.5),
    ({"band_gap_min": 0}, lambda m: m.band_gap_ev is not None),
    ({"spacegroup_number": "62,14"}, lambda m: _sg(m, 62, 14)),
    ({"spacegroup_symbol": "Pnma"}, lambda m: m.spacegroup_symbol == "Pnma"),
    ({"crystal_system": "Orthorhombic,cubic"}, lambda m: m.crystal_system in ("orthorhombic", "cubic")),
    ({"source": "gnome"}, lambda m: m.source == "gnome"),
    ({"license": "BY"}, lambda m: m.licence == "CC-BY-4.0"),
    ({"license": "BY-NC"}, lambda m: m.licence == "CC-BY-NC-4.0"),
    ({"license": "All"}, lambda m: True),
]


@pytest.mark.parametrize(("params", "predicate"), PARAMETER_CASES, ids=[str(p) for p, _ in PARAMETER_CASES])
def test_each_parameter_selects_exactly_what_it_says(client, catalogue, params, predicate):
    expected = {m.material_id for m in Material.objects.all() if predicate(m)}
    got = ids(client.get("/api/v1/materials/", {**params, "_per_page": 1000}))
    assert got == expected
    if "band_gap_min" not in params:  # no band gaps in the data: that filter must return nothing
        assert expected


def test_material_ids_and_sorting(api):
    chosen = sorted(Material.objects.values_list("material_id", flat=True))[3:9]
    assert ids(api(material_ids=",".join(chosen))) == set(chosen)
    for name, attribute in [("nsites", "nsites"), ("density", "density_g_cm3"),
                            ("formation_energy_per_atom", "e_form_ev_per_atom")]:
        body = api(_sort_fields=f"-{name}", _fields=f"material_id,{name}", _per_page=1000).json()
        values = [d[name] for d in body["data"] if d[name] is not None]
        assert values == sorted(values, reverse=True)
        stored = [getattr(m, attribute) for m in Material.objects.all() if getattr(m, attribute) is not None]
        assert values[0] == max(stored)


def test_stability_filters_follow_the_chosen_hull(api):
    for hull in (HullSet.ALL, HullSet.MP):
        stable = set(Stability.objects.filter(hull_set=hull, is_stable=True).values_list("material__material_id", flat=True))
        assert ids(api(is_stable="true", hull=hull, _per_page=1000)) == stable
        near = set(Stability.objects.filter(hull_set=hull, e_above_hull_ev_per_atom__lte=0.025)
                   .values_list("material__material_id", flat=True))
        assert ids(api(energy_above_hull_max=0.025, hull=hull, _per_page=1000)) == near


def test_pages_concatenate_to_the_unpaged_result(api):
    whole = api(_per_page=1000, _sort_fields="-energy_above_hull").json()
    pages, page = [], 1
    while True:
        body = api(_per_page=7, _page=page, _sort_fields="-energy_above_hull").json()
        assert body["meta"]["total_doc"] == whole["meta"]["total_doc"]
        if not body["data"]:
            break
        pages += body["data"]
        page += 1
    assert [d["material_id"] for d in pages] == [d["material_id"] for d in whole["data"]]
    values = [d["energy_above_hull"] for d in whole["data"] if d["energy_above_hull"] is not None]
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize("sort", ["material_id", "-material_id", "-energy_above_hull", "band_gap", "chemsys"])
def test_keyset_pages_follow_next_cursor_to_the_unpaged_result(api, sort):
    # band_gap is null for most materials: the cursor has to walk into the trailing nulls
    whole = api(_per_page=1000, _sort_fields=sort).json()
    pages, cursor = [], None
    while True:
        body = api(_per_page=9, _sort_fields=sort, **({"_cursor": cursor} if cursor else {})).json()
        assert body["meta"]["total_doc"] == whole["meta"]["total_doc"] and body["meta"]["total_doc_is_estimate"] is False
        pages += body["data"]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert len(whole["data"]) > 30
    assert [d["material_id"] for d in pages] == [d["material_id"] for d in whole["data"]]


def test_a_cursor_is_checked(api):
    first = api(_per_page=5, _sort_fields="-energy_above_hull").json()["meta"]["next_cursor"]
    assert "another sort" in api(_per_page=5, _cursor=first).json()["_cursor"]
    assert "malformed cursor" in api(_cursor="not-a-cursor").json()["_cursor"]
    assert "not both" in api(_cursor=first, _page=2, _sort_fields="-energy_above_hull").json()["_cursor"]


def test_a_total_that_would_take_too_long_is_the_planners_estimate_and_says_so(api, monkeypatch):
    from django.db import connection
    from django.db.models import CharField
    from django.db.models.expressions import RawSQL

    from materials import counting, query

    expected = Material.objects.filter(query.elements_all(["O"])).count()
    meta = api(elements="O").json()["meta"]
    assert meta["total_doc"] == expected and meta["total_doc_is_estimate"] is False  # cheap: exact
    if connection.vendor != "postgresql":
        pytest.skip("estimates are PostgreSQL's")
    # a count that cannot finish in time: every row sleeps
    slow = Material.objects.annotate(z=RawSQL("pg_sleep(0.05)::text", [], output_field=CharField())).filter(
        z__isnull=False, elements_mask_low__gte=0)
    found = counting.total(slow, timeout_ms=20)
    assert found.estimate is True and found.count > 0
    with connection.cursor() as cursor:  # the timeout did not outlive the count
        cursor.execute("SELECT pg_sleep(0.05), current_setting('statement_timeout')")
        assert cursor.fetchone()[1] == "0"
    assert counting.total(Material.objects.all(), timeout_ms=5000) == counting.Total(Material.objects.count(), False)
    # a query the planner expects to match very many rows is not counted at all
    monkeypatch.setattr(counting, "ESTIMATE_ABOVE", 0)
    meta = api(elements="O", _per_page=2).json()["meta"]
    assert meta["total_doc_is_estimate"] is True and meta["total_doc"] > 0
    # a short first page is the whole result, whatever the estimate said
    assert counting.settled(counting.Total(5000, True), True, 3, 100) == counting.Total(3, False)
    assert counting.settled(counting.Total(5000, True), False, 3, 100) == counting.Total(5000, True)


def test_fields_are_chosen_with_underscore_fields(api):
    body = api(_fields="material_id,license,energy_above_hull", _per_page=3).json()
    assert all(set(d) == {"material_id", "license", "energy_above_hull"} for d in body["data"])


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"formula": "Xx2O"}, "formula", "unknown element(s) Xx"),
        ({"formula": "Li2O)"}, "formula", "malformed formula"),
        ({"formula": "Li*O2,NaCl"}, "formula", "cannot be combined"),
        ({"formula": "**"}, "formula", "names no element"),
        ({"has_structure": "perhaps"}, "has_structure", "not true or false"),
        ({"chemsys": "Li--O"}, "chemsys", "malformed chemical system"),
        ({"elements": "Li,Qq"}, "elements", "unknown element 'Qq'"),
        ({"density_min": "abc"}, "density_min", "not a number"),
        ({"band_gap_max": "nan"}, "band_gap_max", "not a finite number"),
        ({"nsites_min": "10", "nsites_max": "2"}, "nsites_min", "above nsites_max"),
        ({"_per_page": "5000"}, "_per_page", "between 1 and 1000"),
        ({"_page": "0"}, "_page", "pages start at 1"),
        ({"_sort_fields": "structure"}, "_sort_fields", "cannot sort by 'structure'"),
        ({"_fields": "secret"}, "_fields", "unknown field 'secret'"),
        ({"hull": "oqmd"}, "hull", "unknown hull set"),
        ({"crystal_system": "cubicle"}, "crystal_system", "unknown crystal system"),
        ({"spacegroup_number": "231"}, "spacegroup_number", "1 to 230"),
        ({"is_stable": "maybe"}, "is_stable", "not true or false"),
        ({"license": "GPL"}, "license", "unknown licence"),
        ({"formula": "Li" * 40}, "formula", "longer than 60 characters"),
        ({"energy_above_hul_max": "0.1"}, "energy_above_hul_max", "unknown parameter"),
    ],
)
def test_every_bad_parameter_gets_a_400_naming_it(api, params, param, message):
    response = api(**params)
    assert response.status_code == 400
    assert message in response.json()[param]


def test_one_material_has_its_structure_energies_and_both_stabilities(client, api):
    material = Material.objects.filter(source="gnome").first()
    body = client.get(f"/api/v1/materials/{material.material_id}/").json()
    [doc] = body["data"]
    assert doc["license"] == "CC-BY-NC-4.0" and "Merchant" in doc["citation"]
    assert set(doc["stability"]) == {"all", "mp"}
    assert doc["calculations"][0]["method"] == "GNoME PBE/PBE+U (MP2020)"
    assert len(doc["structure"]["sites"]) == material.nsites
    assert client.get("/api/v1/materials/no-such-id/").status_code == 404
    # beside "stable": which binaries of its system hold a compound of that hull besides the material itself
    elements = material.chemsys.split("-")
    for hull_set, stability in doc["stability"].items():
        h = stability["hull_completeness"]
        assert h["binaries"] == len(elements) * (len(elements) - 1) // 2 == h["covered"] + len(h["missing"])
        for binary in h["missing"]:
            assert not Material.objects.filter(chemsys=binary, stabilities__hull_set=hull_set,
                                               stabilities__is_member=True).exclude(pk=material.pk).exists()
    assert doc["judged_hull_completeness"] is None  # not a discovery: judged by no round


@pytest.mark.parametrize("fmt", ["cif", "cif_symmetrized", "poscar", "json", "extxyz"])
@pytest.mark.parametrize("cell", ["input", "primitive", "conventional"])
def test_every_structure_format_round_trips_through_pymatgen(client, catalogue, fmt, cell):
    from pymatgen.analysis.structure_matcher import StructureMatcher

    from materials.science import parse_structure

    material = Material.objects.filter(source="gnome", nsites__gte=8).first()
    response = client.get(f"/api/v1/materials/{material.material_id}/structure", {"fmt": fmt, "cell": cell})
    assert response.status_code == 200
    assert material.material_id in response["Content-Disposition"]
    assert response["X-Licence"] == "CC-BY-NC-4.0"
    parsed = parse_structure(response.content.decode(), {"cif_symmetrized": "cif"}.get(fmt, fmt))
    original = material.get_structure()
    assert parsed.composition.reduced_formula == original.composition.reduced_formula
    assert StructureMatcher().fit(parsed, original)
    if cell == "input" and fmt != "cif_symmetrized":  # a symmetrized CIF is written in the standard setting
        assert len(parsed) == len(original)
        assert parsed.volume == pytest.approx(original.volume, rel=1e-5)


def test_structure_requests_name_what_is_wrong(client, catalogue):
    material = Material.objects.filter(source="gnome").first()
    url = f"/api/v1/materials/{material.material_id}/structure"
    assert "unknown format 'pdb'" in client.get(url, {"fmt": "pdb"}).json()["fmt"]
    assert "unknown cell 'super'" in client.get(url, {"cell": "super"}).json()["cell"]
    energy_only = Material.objects.filter(source="mp").first()
    assert "no structure" in client.get(f"/api/v1/materials/{energy_only.material_id}/structure").json()["material_id"]


def test_the_export_streams_every_match_with_its_licence(client, api):
    import csv
    import io
    import json

    params = {"elements": "Li,O", "_fields": "material_id,energy_above_hull,elements"}
    expected = ids(api(**params, _per_page=1000))
    response = client.get("/api/v1/materials/export", {**params, "fmt": "jsonl"})
    assert response.status_code == 200 and response.streaming
    docs = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert {d["material_id"] for d in docs} == expected
    assert all(d["license"] in {"CC-BY-4.0", "CC-BY-NC-4.0"} for d in docs)

    response = client.get("/api/v1/materials/export", {**params, "fmt": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["material_id"] for r in rows} == expected
    assert all(json.loads(r["elements"]) for r in rows)

    with_structures = client.get("/api/v1/materials/export", {"source": "gnome", "include_structure": "true"})
    first = json.loads(next(iter(with_structures.streaming_content)))
    with_structures.close()  # as the server does when a client goes away mid-stream
    assert first["structure"]["sites"]


def test_export_parameters_are_checked(client, catalogue):
    assert "unknown export format" in client.get("/api/v1/materials/export", {"fmt": "xlsx"}).json()["fmt"]
    assert "no pages" in client.get("/api/v1/materials/export", {"_page": "2"}).json()["_page"]
    assert "unknown element" in client.get("/api/v1/materials/export", {"elements": "Qq"}).json()["elements"]


def test_the_dump_command_writes_every_material_and_its_cif(tmp_path, catalogue):
    import gzip
    import io
    import json
    import zipfile

    from django.core.management import call_command

    call_command("dump_catalogue", str(tmp_path), param=["elements=Li"], stdout=io.StringIO(), verbosity=0)
    docs = [json.loads(line) for line in gzip.open(tmp_path / "materials.jsonl.gz", "rt")]
    expected = {m.material_id for m in Material.objects.all() if "Li" in m.elements}
    assert {d["material_id"] for d in docs} == expected
    with zipfile.ZipFile(tmp_path / "cifs.zip") as zf:
        names = set(zf.namelist())
        with_structure = {d["material_id"] for d in docs if d["structure"]}
        assert names == {f"by_id/{i}.cif" for i in with_structure}
        one = sorted(with_structure)[0]
        parsed = Structure.from_str(zf.read(f"by_id/{one}.cif").decode(), fmt="cif")
        assert parsed.composition.reduced_formula == Material.objects.get(material_id=one).formula_reduced
    assert "CC BY-NC 4.0" in (tmp_path / "LICENCE.txt").read_text()
