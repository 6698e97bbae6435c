"""Users search, filter, open materials, view crystals and phase diagrams, download files and share searches."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from pymatgen.core import Structure

from materials.models import Material

from .conftest import shot

pytestmark = pytest.mark.django_db(transaction=True)


def search_for(page, text: str) -> None:
    page.fill("#q", text)
    page.press("#q", "Enter")


def result_ids(page) -> list[str]:
    return [a.inner_text() for a in page.query_selector_all("#results td a")]


def test_search_filter_open_a_hull_phase_and_see_its_phase_diagram(page, explorer):
    page.goto(f"{explorer}/explorer/")
    page.wait_for_selector("#result-count")
    search_for(page, "Li-P-S")
    page.wait_for_function("document.location.search.includes('q=Li-P-S')")
    page.check("#stable input[type=checkbox]")
    page.wait_for_function("document.location.search.includes('stable=1')")
    page.wait_for_selector("#result-count")
    expected = set(Material.objects.filter(chemsys="Li-P-S", stabilities__hull_set="all",
                                           stabilities__is_stable=True).values_list("material_id", flat=True))
    page.wait_for_function(f"document.querySelectorAll('#results td a').length === {len(expected)}")
    assert set(result_ids(page)) == expected and expected
    shot(page, "1-search-li-p-s-stable")

    page.click(f"#results a:text-is('{sorted(expected)[0]}')")
    page.wait_for_selector("#material-title")
    page.wait_for_selector("#phase-diagram .main-svg")
    assert "Li-P-S phase diagram" in page.inner_text("#phase-diagram")
    assert "no structure" in page.inner_text("#no-structure")  # an energy-only MP phase says why there is no viewer
    shot(page, "2-hull-phase-with-phase-diagram")
    assert not page.errors and not page.external


def test_open_a_crystal_see_it_in_3d_and_download_its_cif(page, explorer, tmp_path):
    page.goto(f"{explorer}/explorer/?q=Li,P,S&stable=1&source=gnome")
    page.wait_for_selector("#results td a")
    first = result_ids(page)[0]
    page.click(f"#results a:text-is('{first}')")
    page.wait_for_selector("#material-title")
    canvas = page.wait_for_selector("#structure-panel canvas", state="visible")
    box = canvas.bounding_box()
    assert box["width"] > 200 and box["height"] > 200
    page.wait_for_selector("#phase-diagram .main-svg")
    shot(page, "3-crystal-3d-and-phase-diagram")
    with page.expect_download() as download:
        page.click("#download-cif")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    parsed = Structure.from_file(path)
    assert parsed.composition.reduced_formula == Material.objects.get(material_id=first).formula_reduced
    assert not page.errors and not page.external


def test_an_unknown_element_gets_a_clear_message(page, explorer):
    page.goto(f"{explorer}/explorer/")
    page.wait_for_selector("#result-count")
    search_for(page, "Xx2O")
    message = page.wait_for_selector("#search-error").inner_text()
    assert "unknown element" in message and "Xx" in message
    shot(page, "4-unknown-element")


def test_a_shared_url_restores_the_same_search(page, browser, explorer):
    page.goto(f"{explorer}/explorer/")
    page.wait_for_selector("#result-count")
    search_for(page, "Li,S")
    page.fill("#nel_min", "4")
    page.press("#nel_min", "Enter")
    page.wait_for_function("document.location.search.includes('nel_min=4')")
    page.click("#results th[data-dash-column=nsites] .column-header--sort")  # sort by sites
    page.wait_for_function("document.location.search.includes('sort=')")
    page.wait_for_selector("#result-count")
    shared, count, ids = page.url, page.inner_text("#result-count"), result_ids(page)
    assert parse_qs(urlparse(shared).query)["q"] == ["Li,S"] and ids

    other = browser.new_page()
    other.goto(shared)
    other.wait_for_selector("#result-count")
    other.wait_for_function(f"document.querySelectorAll('#results td a').length === {len(ids)}")
    assert other.input_value("#q") == "Li,S" and other.input_value("#nel_min") == "4"
    assert other.inner_text("#result-count") == count and result_ids(other) == ids
    shot(other, "5-shared-url-restored")
    other.close()


def test_screens_and_discovery_pages(page, explorer):
    page.goto(f"{explorer}/explorer/screens")
    page.wait_for_selector("text=Li-ion conductor candidates")
    page.wait_for_selector(".js-plotly-plot .main-svg")
    assert "contains_li" in page.inner_text("#page")
    shot(page, "6-screens")
    page.goto(f"{explorer}/explorer/discovery")
    assert "No discovery rounds yet" in page.wait_for_selector("#no-rounds").inner_text()
