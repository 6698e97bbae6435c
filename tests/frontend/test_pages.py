"""The explorer's search and material pages read what the REST API serves: the source filter offers every source
the search accepts, and a material page shows the record /api/v1/materials/<id>/ answers with."""

from __future__ import annotations

import pytest
from pymatgen.core import Structure

from frontend import search
from frontend.pages.material import material_page
from frontend.pages.search import run_search, search_page
from materials import query
from materials.models import Licence, Material, Source
from materials.science import structure_fields

from ..conftest import read_sample_rows
from .dash_tree import by_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def crystals(data_dir):
    """Three sample crystals stored as discovery materials (one licence each way)."""
    stored = []
    for i, row in enumerate(read_sample_rows(data_dir, 3)):
        structure = Structure.from_str(row["cif"], fmt="cif")
        stored.append(Material.objects.create(
            material_id=f"gnx-page-{i}", source=Source.DISCOVERY if i else Source.GNOME,
            licence=Licence.CC_BY_NC_4 if i else Licence.CC_BY_4, structure=structure.as_dict(),
            e_form_ev_per_atom=row["e_form_per_atom"], energy_method="CHGNet 0.3.0 relax (FIRE)",
            dataset="page test", row_hash=f"page-{i}", **structure_fields(structure)))
    return stored


def test_the_source_filter_offers_every_source_the_search_accepts():
    options = by_id(search_page(search.from_url("")), "source").options
    assert [o["value"] for o in options] == list(Source.values) and "scale" in Source.values
    assert [o["label"].strip() for o in options] == list(Source.labels)
    query.parse(search.query_params({**search.from_url(""), "source": [o["value"] for o in options]}))


def test_a_search_past_the_last_page_shows_the_last_page(crystals):
    values = {**search.from_url(""), "source": ["discovery"], "page": 9}
    rows, total, error, estimate = run_search(values)
    assert (total, error, estimate, values["page"]) == (2, None, False, 1)
    assert [r["material_id"] for r in rows] == [f"[{m.material_id}](/explorer/material/{m.material_id})"
                                                for m in crystals[1:]]
    assert run_search({**search.from_url(""), "q": "Xx2O"})[2].startswith("q: ")  # the form field is named


def test_the_material_page_shows_the_rest_record(client, crystals):
    material = crystals[1]
    record = client.get(f"/api/v1/materials/{material.material_id}/").json()["data"][0]
    content, crystal = material_page(material.material_id)
    page = str(content)
    assert crystal == material.get_structure()
    for shown in (record["formula_pretty"], record["chemsys"], f"{record['formation_energy_per_atom']:.4f}",
                  record["energy_method"], "GNoME Explorer discovery, page test", "CC BY-NC 4.0 (GNoME, non-commercial)"):
        assert shown in page, shown
    assert "CC BY 4.0" in str(material_page(crystals[0].material_id)[0])  # the licence's label, as the API names it
    missing, none = material_page("gnx-nope")
    assert missing.id == "not-found" and none is None
