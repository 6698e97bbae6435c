"""The explorer's search state: the URL holds the whole search, and it becomes the REST API's parameters."""

from __future__ import annotations

import pytest

from frontend import search
from materials import query

pytestmark = pytest.mark.django_db  # a wildcard formula looks its candidates up


def test_the_url_round_trips_every_field():
    values = search.from_url("")
    assert values == {k: (list(v) if isinstance(v, list) else v) for k, v in search.DEFAULTS.items()}
    values.update(q="Li-P-S", elements=["O", "Li"], stable=True, ehull=25.0, nel_min=3, crystal_system=["cubic"],
                  source=["gnome", "mp"], license="BY-NC", layered=True, sort="-nsites", page=3)
    url = search.to_url(values)
    assert url.startswith("?") and "q=Li-P-S" in url and "stable=1" in url and "page=3" in url
    assert search.from_url(url) == values
    assert search.to_url(search.from_url("")) == ""


def test_bad_url_values_are_dropped_not_fatal():
    values = search.from_url("?ehull=lots&page=x&colour=red&q=NaCl")
    assert values["ehull"] is None and values["page"] == 1 and values["q"] == "NaCl"


@pytest.mark.parametrize(("q", "param"), [("LiFePO4", "formula"), ("ABC3", "formula"), ("Si*O3", "formula"),
                                          ("Li-P-S", "chemsys"), ("Li-*-O", "chemsys"), ("Li,O", "elements")])
def test_the_search_box_understands_formulas_systems_and_element_lists(q, param):
    params = search.query_params({**search.from_url(""), "q": q})
    assert params[param] == q
    query.parse(params)  # the REST API's parser accepts what the explorer sends


def test_filters_become_rest_parameters_the_query_module_accepts():
    values = {**search.from_url(""), "q": "Li,O", "elements": ["P"], "stable": True, "ehull": 25, "eform_min": -3,
              "nel_max": 4, "spacegroup": "Fm-3m", "gap_min": 1, "source": ["gnome"], "license": "BY-NC",
              "layered": True, "hull": "mp", "sort": "-energy_above_hull"}
    params = search.query_params(values)
    assert params == {"hull": "mp", "elements": "Li,O,P", "is_stable": "true", "energy_above_hull_max": "0.025",
                      "formation_energy_per_atom_min": "-3.0", "nelements_max": "4", "spacegroup_symbol": "Fm-3m",
                      "band_gap_min": "1.0", "source": "gnome", "license": "BY-NC", "dimensionality": "2D",
                      "_sort_fields": "-energy_above_hull"}
    query.parse(params)
    assert search.query_params({**search.from_url(""), "spacegroup": "225"})["spacegroup_number"] == "225"
