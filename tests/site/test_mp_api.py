"""The real mp-api client (pinned in requirements-test.txt) against a live server on a real slice of the catalogue:
``MPRester(endpoint=...)`` searches, reads structures and builds phase diagrams that are ours."""

from __future__ import annotations

import csv
import gzip
import io
import json
import warnings

import pytest
import requests
from django.core.management import call_command

from hullapi import services
from hullapi.models import HullSet
from materials.mp_ids import candidate_ids, mp_alias

from ..conftest import live_wsgi_server, load_rows

mp_api_client = pytest.importorskip("mp_api.client", reason="mp-api is installed by requirements-test.txt")
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker, tmp_path_factory, system_rows, mp_rows):
    """Base URL of a live server on the Li-Mn-O-P, Fe-Li-O-P, Co-Li-O and Na-Cl slice, both hulls computed."""
    with django_db_blocker.unblock():
        mp, gnome = system_rows
        load_rows(tmp_path_factory.mktemp("mpapi"), mp, gnome, list(mp_rows[0]))
        services.recompute(HullSet.ALL)
        services.recompute(HullSet.MP)
        try:
            with live_wsgi_server() as url:
                yield url
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(scope="module")
def mpr(live):
    from mp_api.client import MPRester

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no API key": this server needs none
        rester = MPRester(endpoint=f"{live}/api/mp/", mute_progress_bars=True)
    yield rester
    rester.session.close()


@pytest.fixture(scope="module")
def mpr_plain(live):
    """A client that returns plain dictionaries: what get_entries needs with the locked emmet-core and pydantic."""
    from mp_api.client import MPRester

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rester = MPRester(endpoint=f"{live}/api/mp/", mute_progress_bars=True, use_document_model=False)
    yield rester
    rester.session.close()


@pytest.fixture(autouse=True)
def _unthrottled(monkeypatch):
    from rest_framework.throttling import AnonRateThrottle

    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "100000/min"})


def rest(live: str, **params) -> list[dict]:
    """Every match of our REST API (one page of up to 1000)."""
    body = requests.get(f"{live}/api/v1/materials/", params={"_per_page": 1000, **params}, timeout=60).json()
    assert body["meta"]["total_doc"] == len(body["data"]), body["meta"]
    return body["data"]


# ---- ids ---------------------------------------------------------------------------------------------------

def test_it_gives_every_id_of_the_data_an_alias_the_client_keeps_as_it_is(data_dir):
    from emmet.core.mpid import AlphaID
    from mp_api.client.core.utils import validate_ids

    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        ids = [json.loads(line)["material_id"] for line in fh]
    with open(data_dir / "mp_hull_snapshot.csv", newline="") as fh:
        ids += [row["MaterialId"] for row in csv.DictReader(fh)]
    ids += ["upl-0123456789ab", "gnx-fedcba987654", "scale-0000042"]
    aliases = [mp_alias(i) for i in ids]
    assert len(set(aliases)) == len(ids)  # one alias per id
    for start in range(0, len(aliases), 5000):  # the client's longest list is 10,000
        assert validate_ids(aliases[start:start + 5000]) == aliases[start:start + 5000]  # sent unchanged
    for material_id, alias in zip(ids, aliases, strict=True):
        assert material_id in candidate_ids(alias)
        assert material_id in candidate_ids(str(AlphaID(alias, padlen=8)))  # as the client's documents print it
    assert mp_alias("mp-149") == "mp-149" and mp_alias("000d0e3181") == "gnome-slicub"
    # without the alias the client refuses a hex id, and silently rewrites an all-digit one
    digits = next(i for i in ids if i.isdigit())
    assert validate_ids([digits]) != [digits]
    with pytest.raises(ValueError):
        validate_ids(["000d0e3181"])


# ---- the three calls ------------------------------------------------------------------------------------

SEARCHES = [
    ({"chemsys": "Li-Fe-O"}, {"chemsys": "Fe-Li-O"}),
    ({"chemsys": ["Li-P-O", "Li-Mn-O"]}, {"chemsys": "Li-O-P,Li-Mn-O"}),
    ({"elements": ["Li", "P"], "num_elements": (3, 4)}, {"elements": "Li,P", "nelements_min": 3, "nelements_max": 4}),
    ({"formula": "LiFePO4"}, {"formula": "LiFePO4"}),
    ({"formula": "ABC4D"}, {"formula": "ABC4D"}),
    ({"energy_above_hull": (0.0, 0.02), "elements": ["Li"]},
     {"energy_above_hull_min": 0.0, "energy_above_hull_max": 0.02, "elements": "Li"}),
    ({"is_stable": True, "elements": ["O"]}, {"is_stable": "true", "elements": "O"}),
    ({"is_stable": False, "elements": ["Li"], "exclude_elements": ["Co"]},
     {"is_stable": "false", "elements": "Li", "exclude_elements": "Co"}),
    ({"formation_energy": (-3.0, -2.0)}, {"formation_energy_per_atom_min": -3.0, "formation_energy_per_atom_max": -2.0}),
    ({"band_gap": (0.0, 20.0)}, {"band_gap_min": 0.0, "band_gap_max": 20.0}),  # none computed: nothing on both sides
    ({"num_sites": (20, 60), "chemsys": "Li-Mn-O-P"}, {"nsites_min": 20, "nsites_max": 60, "chemsys": "Li-Mn-O-P"}),
]


@pytest.mark.parametrize(("mp_kwargs", "rest_params"), SEARCHES)
def test_it_searches_summary_as_the_rest_api_does(live, mpr, mp_kwargs, rest_params):
    fields = ["material_id", "formula_pretty", "energy_above_hull", "formation_energy_per_atom", "energy_per_atom",
              "is_stable", "database_IDs"]
    docs = mpr.materials.summary.search(**mp_kwargs, fields=fields, chunk_size=7)  # pages of 7: _skip and _limit
    expected = {d["material_id"]: d for d in rest(live, **rest_params, _fields="material_id,formula_pretty,"
                                                  "energy_above_hull,formation_energy_per_atom,"
                                                  "energy_per_atom_corrected,is_stable,license")}
    got = {doc.database_IDs["gnome_explorer"][0]: doc for doc in docs}
    assert set(got) == set(expected), (mp_kwargs, len(got), len(expected))
    assert len(docs) == len(got)  # no page read twice
    for mid, doc in got.items():
        want = expected[mid]
        assert mid in candidate_ids(str(doc.material_id))  # the alias, as the client prints it
        assert doc.formula_pretty == want["formula_pretty"]
        assert doc.energy_above_hull == want["energy_above_hull"]
        assert doc.formation_energy_per_atom == want["formation_energy_per_atom"]
        assert doc.energy_per_atom == pytest.approx(want["energy_per_atom_corrected"], abs=1e-12)
        assert doc.is_stable == want["is_stable"]
    if "band_gap" not in mp_kwargs:
        assert got, "the slice should match something"


def test_it_serves_every_field_asked_for_and_the_licence_with_each(live, mpr):
    docs = mpr.materials.summary.search(chemsys="Li-Co-O", all_fields=True)
    expected = {d["material_id"]: d for d in rest(live, chemsys="Co-Li-O", _all_fields="true")}
    assert len(docs) == len(expected) > 5
    for doc in docs:
        want = expected[doc.database_IDs["gnome_explorer"][0]]
        assert doc.builder_meta.license == {"CC-BY-NC-4.0": "BY-NC", "CC-BY-4.0": "BY-C"}[want["license"]]
        assert doc.nsites == want["nsites"] and doc.chemsys == want["chemsys"] and doc.elements
        if want["source"] == "gnome":
            assert doc.structure is not None and doc.symmetry.number == want["spacegroup_number"]
            assert doc.theoretical is True and doc.volume == want["volume"]
        else:  # an energy-only Materials Project hull phase: no structure, said so
            assert doc.structure is None and doc.symmetry is None
            assert any("without a structure" in w for w in doc.warnings)
        if not want["is_stable"]:
            fractions = {p.formula: p.amount for p in doc.decomposes_to}
            assert sum(fractions.values()) == pytest.approx(1.0)
            assert len(fractions) == len(want["decomposes_to"])
    # plain dictionaries keep our own fields too: the licence as an SPDX id, source and energy method
    raw = mpr.materials.summary.search(chemsys="Li-Co-O", fields=["material_id"])
    assert {d.material_id for d in raw}
    plain = requests.get(f"{live}/api/mp/materials/summary/", params={"chemsys": "Co-Li-O", "_fields": "source"},
                         timeout=60).json()
    assert {d["license"] for d in plain["data"]} == {"CC-BY-NC-4.0", "CC-BY-4.0"}
    assert set(plain["meta"]["licenses"]) == {"CC-BY-NC-4.0", "CC-BY-4.0"}


def test_it_leaves_out_the_gnome_data_when_the_client_asks(live, mpr):
    all_docs = mpr.materials.summary.search(chemsys="Li-Fe-P-O", fields=["material_id", "database_IDs"])
    without = mpr.materials.summary.search(chemsys="Li-Fe-P-O", include_gnome=False, fields=["material_id"])
    mp_only = rest(live, chemsys="Fe-Li-O-P", source="mp", _fields="material_id")
    assert {str(d.material_id) for d in without} == {mp_alias(d["material_id"]) for d in mp_only}
    assert len(without) < len(all_docs)


def test_it_gives_the_structure_of_an_alias_or_of_the_alias_as_the_client_prints_it(live, mpr):
    from pymatgen.core import Structure

    gnome = rest(live, chemsys="Fe-Li-O-P", source="gnome", _fields="material_id")[:3]
    assert gnome
    for row in gnome:
        mid = row["material_id"]
        ours = Structure.from_dict(requests.get(f"{live}/api/v1/materials/{mid}/", timeout=60).json()["data"][0]
                                   ["structure"])
        structure = mpr.get_structure_by_material_id(mp_alias(mid))
        assert structure == ours
        printed = str(mpr.materials.summary.search(material_ids=[mp_alias(mid)], fields=["material_id"])[0].material_id)
        assert mpr.get_structure_by_material_id(printed) == ours
        conventional = mpr.get_structure_by_material_id(mp_alias(mid), conventional_unit_cell=True)
        assert conventional.composition.reduced_formula == ours.composition.reduced_formula
    # an energy-only hull phase has none: the client's None, not a made-up structure
    phase = rest(live, chemsys="Li-O", source="mp", _fields="material_id")[0]["material_id"]
    assert mpr.get_structure_by_material_id(phase) is None


def test_the_locked_client_cannot_dump_entries_from_its_document_models():
    """Not ours: emmet-core 0.87.2's entry serializer calls pydantic 2.14's handler with an extra argument, so
    get_entries fails with use_document_model=True against any server (docs/mp_api.md). When a new lock fixes it,
    this test fails: then drop use_document_model=False from the docs and the test below."""
    from emmet.core.thermo import ThermoDoc
    from mp_api.client.core.schemas import _convert_to_model
    from pydantic_core import PydanticSerializationError
    from pymatgen.core import Lattice, Structure
    from pymatgen.entries.computed_entries import ComputedStructureEntry

    entry = ComputedStructureEntry(Structure(Lattice.cubic(3), ["Li"], [[0, 0, 0]]), -1.9, entry_id="mp-135-GGA_GGA+U")
    doc = _convert_to_model([{"material_id": "mp-135", "thermo_type": "GGA_GGA+U",
                              "entries": {"GGA_GGA+U": entry.as_dict()}}], ThermoDoc)[0]
    with pytest.raises(PydanticSerializationError, match="entry_serializer"):
        doc.model_dump()


@pytest.mark.parametrize("system", ["Li-Fe-O", "Li-Fe-P-O", "Li-Co-O", "Na-Cl"])
def test_it_builds_our_hull_from_the_clients_entries(live, mpr_plain, system):
    from itertools import combinations

    from pymatgen.analysis.phase_diagram import PhaseDiagram

    mpr = mpr_plain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries = mpr.get_entries_in_chemsys(system, additional_criteria={"thermo_types": ["GGA_GGA+U"]})
    hull = requests.get(f"{live}/api/v1/hull/{system}/", timeout=60).json()
    members = {e["material_id"]: e for e in hull["entries"] if e["is_member"]}
    by_id = {e.data["gnome_explorer"]: e for e in entries}
    assert set(by_id) == set(members) and len(entries) == len(members) >= 5
    diagram = PhaseDiagram(entries)
    for material_id, entry in by_id.items():
        assert diagram.get_e_above_hull(entry) == pytest.approx(members[material_id]["e_above_hull_ev_per_atom"],
                                                                abs=1e-6), material_id
        assert entry.data["structure_is_placeholder"] == (members[material_id]["source"] == "mp")
    stable = {e.data["gnome_explorer"] for e in diagram.stable_entries}
    assert stable == {i for i, e in members.items() if e["is_stable"]}
    # the energies are the REST API's, and compatible_only=False takes the MP2020 correction off again
    elements = sorted(system.split("-"))
    subsystems = ",".join("-".join(c) for n in range(1, len(elements) + 1) for c in combinations(elements, n))
    rows = {d["material_id"]: d for d in rest(live, chemsys=subsystems, _fields="material_id,energy_per_atom_corrected")}
    for material_id, entry in by_id.items():
        assert entry.energy_per_atom == pytest.approx(rows[material_id]["energy_per_atom_corrected"], abs=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = mpr.get_entries_in_chemsys(system, compatible_only=False,
                                         additional_criteria={"thermo_types": ["GGA_GGA+U"]})
    uncorrected = {e.data["gnome_explorer"]: e for e in raw}
    for material_id, entry in by_id.items():
        assert uncorrected[material_id].correction == 0
        assert uncorrected[material_id].uncorrected_energy == pytest.approx(entry.uncorrected_energy, abs=1e-9)


def test_it_answers_thermo_searches_and_other_thermo_types_with_nothing(live, mpr):
    docs = mpr.materials.thermo.search(chemsys="Li-Co-O", thermo_types=["GGA_GGA+U"],
                                       fields=["material_id", "thermo_type", "energy_above_hull", "is_stable"])
    members = [e for e in requests.get(f"{live}/api/v1/hull/Co-Li-O/", timeout=60).json()["entries"] if e["is_member"]
               and e["formula"] != "Co" and len(e["fractions"]) == 3 and all(e["fractions"])]
    assert docs and {d.thermo_type.value for d in docs} == {"GGA_GGA+U"}
    assert {str(d.material_id) for d in docs} >= {mp_alias(e["material_id"]) for e in members}
    assert mpr.materials.thermo.search(chemsys="Li-Co-O", thermo_types=["R2SCAN"], fields=["material_id"]) == []
    alias = mp_alias(members[0]["material_id"])
    by_id = mpr.materials.thermo.search(thermo_ids=[f"{alias}_GGA_GGA+U"], fields=["material_id", "energy_above_hull"])
    assert len(by_id) == 1 and by_id[0].energy_above_hull == members[0]["e_above_hull_ev_per_atom"]
    raw = requests.get(f"{live}/api/mp/materials/thermo/", params={"thermo_ids": f"{alias}_GGA_GGA+U",
                                                                   "_fields": "thermo_id,energy_type"}, timeout=60)
    assert raw.json()["data"][0]["thermo_id"] == f"{alias}_GGA_GGA+U"


def test_it_never_serves_thermo_entries_older_than_the_last_import_or_recompute(live, system_rows, tmp_path,
                                                                              settings):
    """The entries of a system are kept per data version (materials.versioned_cache), as the REST hull is: served
    from the cache until an import or a recompute, then built again (in-process: this test's transaction)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from ..conftest import write_jsonl

    settings.GNOME_API_CACHE_SECONDS = 0  # the anonymous read cache off: only the versioned one is at work
    client = Client()
    params = {"chemsys": "Co,Li,O,Co-Li,Co-O,Li-O,Co-Li-O", "thermo_types": "GGA_GGA+U", "_limit": "1000",
              "_fields": "entries,energy_above_hull,is_stable,equilibrium_reaction_energy_per_atom,source"}

    def thermo() -> dict[str, dict]:
        response = client.get("/api/mp/materials/thermo/", params)
        assert response.status_code == 200, response.content[:300]
        return {d["entries"]["GGA_GGA+U"]["data"]["gnome_explorer"]: d for d in response.json()["data"]}

    def corrected_ev(doc: dict) -> float:
        entry = doc["entries"]["GGA_GGA+U"]
        return entry["energy"] + entry["correction"]

    before = thermo()
    with CaptureQueriesContext(connection) as queries:
        assert thermo() == before
    assert len(queries) == 1, [q["sql"] for q in queries]  # the data version only: the entries were kept
    # a GNoME phase 1 eV/atom higher: its energy changes with the import, its stability with the recompute
    material_id, doc = next((i, d) for i, d in sorted(before.items()) if d["source"] == "gnome")
    row = next(r for r in system_rows[1] if r["material_id"] == material_id)
    raised = {**row, "e_form_per_atom": row["e_form_per_atom"] + 1.0}
    call_command("import_gnome", str(write_jsonl(tmp_path / "raised.jsonl.gz", [raised])), workers=1, verbosity=0,
                 stdout=io.StringIO(), stderr=io.StringIO())
    imported = thermo()[material_id]
    assert corrected_ev(imported) == pytest.approx(corrected_ev(doc) + 1.0 * row["nsites"], abs=1e-6)
    assert imported["energy_above_hull"] == doc["energy_above_hull"]  # the stability is the last recompute's
    services.recompute(HullSet.ALL, chemsys=["Co-Li-O"], workers=1)
    recomputed = thermo()[material_id]
    # 1 eV/atom above where it was: above the hull without it by that much less its phase separation energy
    below = doc["equilibrium_reaction_energy_per_atom"] if doc["is_stable"] else doc["energy_above_hull"]
    assert recomputed["energy_above_hull"] == pytest.approx(below + 1.0, abs=1e-6)
    assert recomputed["is_stable"] is False
    hull = {e["material_id"]: e for e in client.get("/api/v1/hull/Co-Li-O/").json()["entries"]}
    assert recomputed["energy_above_hull"] == hull[material_id]["e_above_hull_ev_per_atom"]


def test_it_takes_our_ids_pages_dotted_fields_and_says_nothing_is_deprecated(live):
    url = f"{live}/api/mp/materials/summary/"
    ids = [d["material_id"] for d in rest(live, chemsys="Fe-Li-O-P", _fields="material_id")]
    by_ours = requests.get(url, params={"material_ids": ",".join(ids[:5]), "_fields": "database_IDs"}, timeout=60).json()
    assert sorted(d["database_IDs"]["gnome_explorer"][0] for d in by_ours["data"]) == sorted(ids[:5])
    pages = [requests.get(url, params={"chemsys": "Fe-Li-O-P", "_page": page, "_per_page": 4,
                                       "_fields": "database_IDs"}, timeout=60).json()["data"] for page in (1, 2, 3)]
    assert [d["database_IDs"]["gnome_explorer"][0] for page in pages for d in page] == ids[:12]
    dotted = requests.get(url, params={"material_ids": mp_alias(ids[0]), "_fields": "symmetry.number"},
                          timeout=60).json()["data"][0]
    assert set(dotted) == {"material_id", "symmetry", "builder_meta", "license"}
    gone = requests.get(url, params={"chemsys": "Fe-Li-O-P", "deprecated": "true"}, timeout=60).json()
    assert gone["data"] == [] and gone["meta"]["total_doc"] == 0
    unknown = requests.get(url, params={"material_ids": "gnome-zzzzzzzzz"}, timeout=60).json()
    assert unknown["data"] == []
    # aliases far longer than any of ours (their values once overflowed int <-> str conversion: a 500)
    for alias in ("mp-" + "z" * 3100, "gnome-" + "1" * 5000):
        assert candidate_ids(alias) == [alias]
        for route, param, value in (("summary", "material_ids", alias), ("thermo", "thermo_ids", alias + "_GGA_GGA+U")):
            answer = requests.get(f"{live}/api/mp/materials/{route}/", params={param: value}, timeout=60)
            assert answer.status_code == 200 and answer.json()["data"] == [], (route, answer.status_code)


# ---- errors, throttling, the heartbeat --------------------------------------------------------------------

def test_it_names_a_bad_parameter_in_a_422_the_client_shows(live, mpr):
    from mp_api.client.core.client import MPRestError

    with pytest.raises(MPRestError, match="k_vrh_min: not available in this catalogue"):
        mpr.materials.summary.search(k_vrh=(1, 2), fields=["material_id"])
    for params, words in [
        ({"energy_above_hull_min": "abc"}, "energy_above_hull_min: 'abc' is not a number"),
        ({"chemsys": "Li-Xx"}, "chemsys: chemical system 'Li-Xx' has unknown element(s): Xx"),
        ({"_limit": "1001"}, "_limit: 1001 is out of range"),
        ({"_fields": "material_id,colour"}, "_fields: unknown field 'colour'"),
        ({"bogus": "1"}, "bogus: unknown parameter"),
        ({"_all_fields": "maybe"}, "_all_fields: 'maybe' is not true or false"),
    ]:
        response = requests.get(f"{live}/api/mp/materials/summary/", params=params, timeout=60)
        assert response.status_code == 422 and response.json()["detail"].startswith(words), (params, response.text)
    response = requests.get(f"{live}/api/mp/materials/thermo/", params={"thermo_types": "PBE0"}, timeout=60)
    assert response.status_code == 422 and "unknown thermo type 'PBE0'" in response.json()["detail"]
    assert requests.get(f"{live}/api/mp/materials/tasks/", timeout=60).json()["detail"].startswith("no endpoint")


def test_every_parameter_with_hostile_values_gets_an_answer_or_a_4xx_naming_it(live):
    from materials.mp_api import COMMON_PARAMETERS, SEARCH_PARAMETERS

    from ..security.corpus import HOSTILE_VALUES

    session = requests.Session()
    routes = [("summary", [n for n, _, _ in SEARCH_PARAMETERS]),
              ("thermo", [n for n, _, _ in COMMON_PARAMETERS] + ["thermo_types", "thermo_ids"])]
    for route, names in routes:
        for name in names:
            for value in HOSTILE_VALUES:
                response = session.get(f"{live}/api/mp/materials/{route}/", params={name: value}, timeout=60)
                assert response.status_code in (200, 400, 422), (route, name, value, response.status_code)
                body = response.json()
                if response.status_code == 422:
                    assert body["detail"].startswith(f"{name}: ") or name in body, (name, value, body)
                elif response.status_code == 200:
                    assert isinstance(body["data"], list) and body["meta"]["total_doc"] >= len(body["data"])
    session.close()


def test_it_throttles_anonymous_clients_with_429_and_retry_after(live, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import AnonRateThrottle

    cache.clear()
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "2/min"})
    codes = [requests.get(f"{live}/api/mp/materials/summary/", params={"chemsys": "Na-Cl", "_limit": i + 1},
                          timeout=60) for i in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert int(codes[-1].headers["Retry-After"]) > 0 and "throttled" in codes[-1].json()["detail"]
    cache.clear()


def test_it_answers_the_heartbeat_the_client_reads_first(live, mpr):
    beat = requests.get(f"{live}/api/mp/heartbeat", timeout=60).json()
    assert mpr.db_version == beat["db_version"] and beat["access_controlled_batch_ids"] == []
    assert str(mpr.get_emmet_version(mpr.endpoint)) == beat["version"]
    assert mpr.materials.summary.count({"chemsys": "Na-Cl"}) == len(rest(live, chemsys="Cl-Na"))
