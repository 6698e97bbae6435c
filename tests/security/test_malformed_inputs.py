"""The malformed-input corpus against the live application: broken and hostile structure uploads, formulas and
chemical systems, every search parameter out of range, OPTIMADE filters generated from the grammar and mutated.

Every input must get a 4xx JSON answer that names the problem (never a 500), and nothing may be written: every
table of the project holds the same rows afterwards. OPTIMADE answers a valid filter it cannot evaluate with
501, as its specification asks; that is counted apart from server errors.
"""

from __future__ import annotations

import gzip
import json

import pytest
from django.apps import apps
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from materials.models import Material, Source
from materials.query import openapi_parameters
from materials.uploads import _format_of

from .conftest import fetch
from .corpus import HOSTILE_CHEMSYS, HOSTILE_FORMULAS, HOSTILE_VALUES, structure_cases

# Each test reads in its own transaction (READ COMMITTED), so it sees what the live server's threads commit; the
# module's catalogue is committed before and flushed after (conftest.live), not rolled back per test.
pytestmark = pytest.mark.django_db

UPLOADS = "/api/v1/materials/uploads/"


def row_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models()
            if m._meta.app_label in {"materials", "hullapi", "discovery", "auth"}}


def is_json_error(response, status: set[int] | None = None) -> dict:
    # 501 (a valid filter OPTIMADE cannot answer) and 553 (an unsupported OPTIMADE version) are the spec's own
    assert response.status_code < 500 or response.status_code in {501, 553}, (response.status_code, response.text[:500])
    if status is not None:
        assert response.status_code in status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].split(";")[0] in {"application/json", "application/vnd.api+json"}, \
        (response.status_code, response.headers["Content-Type"], response.text[:300])
    return response.json()


@pytest.fixture(scope="module")
def sample_cif(data_dir) -> tuple[str, str]:
    """A real P1 sample CIF outside the slice (so an upload of it is new), and its material id."""
    with gzip.open(data_dir / "gnome_materials_sample.jsonl.gz", "rt") as fh:
        for line in fh:
            row = json.loads(line)
            if row["elements"] == "Al-Ga-Nd-Rh":
                return row["cif"], row["material_id"]
    raise AssertionError("the sample lost its first crystal")


def test_hostile_structure_files_are_refused_by_name_and_nothing_is_written(live, staff, tally, sample_cif):
    cif, _ = sample_cif
    before = row_counts()
    cases = structure_cases(cif)
    for case, name, payload, mention in cases:
        response = fetch(staff, "POST", live + UPLOADS, files={"file": (name, payload)})
        tally.add("structure uploads (multipart)", response.status_code)
        body = is_json_error(response, {400})
        problems = body["files"]
        assert [p["file"] for p in problems] == [name], (case, body)
        assert mention.lower() in problems[0]["message"].lower(), (case, problems[0]["message"])
    # the same texts as JSON bodies, where they are text in a format we take
    for case, name, payload, mention in cases:
        fmt = _format_of(name, None)
        if fmt is None:
            continue
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            continue
        response = fetch(staff, "POST", live + UPLOADS, json={"structure": text, "format": fmt})
        tally.add("structure uploads (json)", response.status_code)
        assert mention.lower() in json.dumps(is_json_error(response, {400})).lower(), (case, response.text)
    # one good file and one bad: the request is refused whole
    response = fetch(staff, "POST", live + UPLOADS, files=[("file", ("good.cif", cif.encode())),
                                                          ("file", ("half.cif", cif[:300].encode()))])
    tally.add("structure uploads (multipart)", response.status_code)
    assert [p["file"] for p in is_json_error(response, {400})["files"]] == ["half.cif"]
    assert row_counts() == before


def test_an_upload_needs_staff_is_stored_once_and_keeps_its_licence(live, anonymous, user, staff, tally, sample_cif):
    cif, _ = sample_cif
    before = row_counts()
    for who, session, status in (("anonymous", anonymous, {401, 403}), ("non-staff", user, {403})):
        response = fetch(session, "POST", live + UPLOADS, files={"file": ("mine.cif", cif.encode())})
        tally.add("writes without staff", response.status_code)
        assert "detail" in is_json_error(response, status), who
    assert row_counts() == before

    response = fetch(staff, "POST", live + UPLOADS, files={"file": ("mine.cif", cif.encode())},
                     data={"energy_ev": "-190.5", "method": "PBE (my group)", "licence": "CC-BY-4.0"})
    assert response.status_code == 201, response.text
    [doc] = response.json()["data"]
    material = Material.objects.get(material_id=doc["material_id"])
    assert material.source == Source.UPLOAD and material.licence == "CC-BY-4.0" and material.nsites == 28
    assert material.energy_method == "PBE (my group)" and material.calculations.count() == 1
    again = fetch(staff, "POST", live + UPLOADS, files={"file": ("mine.cif", cif.encode())},
                  data={"energy_ev": "-190.5", "method": "PBE (my group)", "licence": "CC-BY-4.0"})
    assert again.status_code == 200 and again.json()["meta"]["unchanged"] == 1
    renamed = fetch(staff, "POST", live + UPLOADS, files={"file": ("renamed.cif", cif.encode())},
                    data={"energy_ev": "-190.5", "method": "PBE (my group)", "licence": "CC-BY-4.0"})
    assert renamed.json()["data"][0]["material_id"] == doc["material_id"]  # the content names it, not the file
    assert Material.objects.filter(source=Source.UPLOAD).count() == 1
    public = fetch(anonymous, "GET", f"{live}/api/v1/materials/{doc['material_id']}/")
    assert public.status_code == 200 and public.json()["data"][0]["license"] == "CC-BY-4.0"


def test_oversized_uploads_are_refused_before_they_are_read(live, staff, tally, settings):
    before = row_counts()
    limit = settings.GNOME_UPLOAD_MAX_BYTES
    big = b"# padding\n" * (limit // 10 + 10)
    response = fetch(staff, "POST", live + UPLOADS, files={"file": ("big.cif", big)})
    tally.add("oversized uploads", response.status_code)
    assert f"the limit is {limit}" in json.dumps(is_json_error(response, {400}))
    response = fetch(staff, "POST", live + UPLOADS, json={"structure": "x" * (limit + 600_000), "format": "cif"})
    tally.add("oversized uploads", response.status_code)
    assert "too large" in is_json_error(response, {413})["detail"]
    # a body declared larger than any request we take is refused on its headers, before a byte is read
    import base64
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(live)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.putrequest("POST", UPLOADS)
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(100 * limit))
    conn.putheader("Authorization", "Basic " + base64.b64encode(":".join(staff.auth).encode()).decode())
    conn.endheaders()
    raw = conn.getresponse()
    tally.add("oversized uploads", raw.status)
    assert raw.status == 413 and "request body" in json.loads(raw.read())["detail"]
    conn.close()
    assert row_counts() == before


def test_every_search_parameter_with_hostile_values(live, anonymous, tally):
    before = row_counts()
    for name, _, _ in openapi_parameters():
        for value in HOSTILE_VALUES:
            response = fetch(anonymous, "GET", f"{live}/api/v1/materials/", params={name: value})
            tally.add("search parameters", response.status_code)
            body = is_json_error(response, {200, 400})
            if response.status_code == 400:
                assert name in body or name in json.dumps(body), (name, value, body)
            else:
                assert isinstance(body["data"], list)
    assert row_counts() == before


def test_formulas_chemical_systems_and_ids_everywhere(live, anonymous, staff, tally):
    before = row_counts()
    for formula in HOSTILE_FORMULAS:
        for url, params in ((f"{live}/api/v1/materials/", {"formula": formula}),
                            (f"{live}/api/v1/materials/", {"elements": formula}),
                            (f"{live}/api/v1/screens/li_conductor/preview", {"formula": formula})):
            response = fetch(anonymous, "GET", url, params=params)
            tally.add("formulas", response.status_code)
            is_json_error(response, {200, 400, 404})
        response = fetch(anonymous, "POST", f"{live}/api/v1/hull/stability/",
                         json={"formula": formula, "energy_ev_per_atom": -1.0})
        tally.add("formulas", response.status_code)
        if response.status_code != 200:
            assert "formula" in json.dumps(is_json_error(response, {400}))
    for system in HOSTILE_CHEMSYS:
        for url in (f"{live}/api/v1/materials/?chemsys={system}", f"{live}/api/v1/hull/{system}/",
                    f"{live}/api/v1/hull/{system}/figure/"):
            response = fetch(anonymous, "GET", url)
            tally.add("chemical systems", response.status_code)
            is_json_error(response, {200, 400, 404})
    for bad_id in ("", "nope", "x" * 300, "../../etc/passwd", "%00", "Ω", "mp-1;DROP", "gnx-' OR 1=1"):
        for suffix in ("/", "/structure", "/conductivity/"):
            response = fetch(anonymous, "GET", f"{live}/api/v1/materials/{bad_id}{suffix}")
            tally.add("material ids", response.status_code)
            is_json_error(response, {400, 404})
    for fmt in HOSTILE_VALUES[:12]:
        response = fetch(anonymous, "GET", f"{live}/api/v1/materials/", params={"_fields": "material_id"})
        some_id = response.json()["data"][0]["material_id"]
        response = fetch(anonymous, "GET", f"{live}/api/v1/materials/{some_id}/structure", params={"fmt": fmt})
        tally.add("material ids", response.status_code)
        is_json_error(response, {400})
    bodies = [[], "x", 5, {"entries": "x"}, {"entries": [1]}, {"entries": [{}] * 2000},
              {"formula": "Li2O", "energy_ev": "nan"},
              {"formula": "Li2O", "energy_ev": True}, {"formula": "Li2O"},
              {"hull": "nope", "formula": "Li2O", "energy_ev": 1}]
    for body in bodies:
        response = fetch(anonymous, "POST", f"{live}/api/v1/hull/stability/", json=body)
        tally.add("stability bodies", response.status_code)
        is_json_error(response, {400})
    for raw in (b"{", b"\xff\xfe", b"[" * 5000, b'{"a": ' * 3000, b'{"formula": "Li2O", "energy_ev": 1e400}',
                b'{"formula": "Li2O", "energy_ev": NaN}', b'{"formula": "Li2O", "energy_ev": -Infinity}'):
        response = fetch(anonymous, "POST", f"{live}/api/v1/hull/stability/", data=raw,
                         headers={"Content-Type": "application/json"})
        tally.add("stability bodies", response.status_code)
        is_json_error(response, {400})
    for body in ({}, {"chemsys": "Xx-O"}, {"candidate_budget": -5}, {"candidate_budget": "lots"},
                 {"chemsys": ["Li-O"], "evaluator": "nope"}, {"chemsys": ["Li-O"] * 500}, [], "x"):
        response = fetch(staff, "POST", f"{live}/api/v1/discovery/rounds/", json=body)
        tally.add("round bodies", response.status_code)
        is_json_error(response, {400})
    for path in ("/api/v1/nope", "/api/v1/discovery/rounds/999999/", "/api/v1/discovery/rounds/1/candidates?arm=x",
                 "/api/v1/screens/nope/", "/api/v1/screens/li_conductor/results?_per_page=-1",
                 "/api/v1/materials/?formula=%ff%fe",
                 "/api/v1/materials/?elements=%c0%af", "/optimade/v1/structures?filter=%ff"):
        response = fetch(anonymous, "GET", live + path)
        tally.add("paths", response.status_code)
        is_json_error(response, {400, 404})
    assert row_counts() == before


# ---- OPTIMADE filters from the grammar, and mutations of them ----------------------------------------------

PROPERTIES = ["id", "elements", "nelements", "nsites", "chemical_formula_reduced", "chemical_formula_anonymous",
              "chemical_formula_descriptive", "last_modified", "species_at_sites", "elements_ratios",
              "space_group_it_number", "_gnx_formation_energy_per_atom", "_gnx_energy_above_hull", "_gnx_is_stable",
              "_gnx_band_gap", "_gnx_source", "_gnx_dimensionality", "_mp_band_gap", "_other_thing", "structure_features",
              "lattice_vectors", "nperiodic_dimensions", "nonexistent"]
string_values = st.sampled_from(['"Li"', '"O"', '"Fe"', '"Xx"', '""', '"Li2O"', '"A2B"', '"2D"', '"gnome"',
                                 '"2024-01-01T00:00:00Z"', '"\\"quoted\\""', '"Ω"'])
number_values = st.one_of(st.integers(-10**30, 10**30).map(str),
                          st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False).map(repr),
                          st.sampled_from(["1e400", "-0", "0.0", "1E-5"]))
values = st.one_of(string_values, number_values, st.sampled_from(["TRUE", "FALSE"]))
properties = st.sampled_from(PROPERTIES)
comparisons = st.one_of(
    st.builds(lambda p, o, v: f"{p} {o} {v}", properties, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), values),
    st.builds(lambda v, o, p: f"{v} {o} {p}", values, st.sampled_from(["=", "<", ">="]), properties),
    st.builds(lambda p, o, vs: f"{p} HAS {o} {', '.join(vs)}", properties, st.sampled_from(["ALL", "ANY", "ONLY"]),
              st.lists(string_values, min_size=1, max_size=4)),
    st.builds(lambda p, v: f"{p} HAS {v}", properties, values),
    st.builds(lambda p, o, v: f"{p} {o} {v}", properties, st.sampled_from(["CONTAINS", "STARTS WITH", "ENDS WITH"]),
              string_values),
    st.builds(lambda p, o, v: f"LENGTH {p} {o} {v}", properties, st.sampled_from(["=", ">", "<="]), number_values),
    st.builds(lambda p, k: f"{p} IS {k}", properties, st.sampled_from(["KNOWN", "UNKNOWN"])),
)
filters = st.recursive(comparisons, lambda inner: st.one_of(
    st.builds(lambda a, o, b: f"{a} {o} {b}", inner, st.sampled_from(["AND", "OR"]), inner),
    st.builds(lambda a: f"NOT {a}", inner), st.builds(lambda a: f"({a})", inner)), max_leaves=6)


@st.composite
def mutated(draw) -> str:
    text = draw(filters)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "truncate", "duplicate"]))
        if action == "delete":
            text = text[:i] + text[i + 1:]
        elif action == "insert":
            text = text[:i] + draw(st.sampled_from(list("()\"=<>!,' \\") + ["AND", "NOT", "\u0000", "Ω", "HAS"])) + text[i:]
        elif action == "truncate":
            text = text[:i]
        else:
            text = text[:i] + text[i:] * 2
    return text


def _optimade(live, anonymous, tally, family: str, text: str) -> None:
    response = fetch(anonymous, "GET", f"{live}/optimade/v1/structures", params={"filter": text, "page_limit": 5})
    tally.add(family, response.status_code)
    body = is_json_error(response, {200, 400, 501})
    if response.status_code == 200:
        assert isinstance(body["data"], list)
    else:
        [error] = body["errors"]
        assert error["status"] == str(response.status_code) and error["detail"], body
        assert error.get("source", {}).get("parameter") == "filter", body


@examples(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=filters)
def test_optimade_filters_from_the_grammar(live, anonymous, tally, text):
    _optimade(live, anonymous, tally, "OPTIMADE filters (grammar)", text)


@examples(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_optimade_filters_mutated(live, anonymous, tally, text):
    _optimade(live, anonymous, tally, "OPTIMADE filters (mutated)", text)


def test_optimade_parameters_out_of_range(live, anonymous, tally):
    before = row_counts()
    for name in ("page_limit", "page_offset", "page_above", "sort", "response_fields", "response_format",
                 "include", "email_address", "api_hint", "page_number"):
        for value in HOSTILE_VALUES:
            response = fetch(anonymous, "GET", f"{live}/optimade/v1/structures", params={name: value})
            tally.add("OPTIMADE parameters", response.status_code)
            body = is_json_error(response, {200, 400, 403})
            if response.status_code != 200:
                assert body["errors"][0]["detail"]
    for path in ("/optimade/v1/structures/nope", "/optimade/v1/nope", "/optimade/v9/structures", "/optimade/v1/info/nope",
                 "/optimade/v1/structures/" + "x" * 400):
        response = fetch(anonymous, "GET", live + path)
        tally.add("OPTIMADE parameters", response.status_code)
        is_json_error(response, {404, 553})
    assert row_counts() == before
