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
    similar = page.wait_for_selector("#similar-materials a")  # the Similar materials panel links to their pages
    assert similar.get_attribute("href").startswith("/explorer/material/") and similar.inner_text() != first
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


def test_discovery_dashboard_opens_a_round_and_its_new_stable_material(page, explorer):
    from discovery.models import Candidate, DiscoveryRound
    from discovery.rounds import DEFAULTS

    crystals = list(Material.objects.filter(source="gnome").exclude(structure=None).order_by("material_id")[:4])
    rnd = DiscoveryRound.objects.create(
        name="Li-P-S check", config={**DEFAULTS, "chemsys": ["Li-P-S"]}, status=DiscoveryRound.Status.SUCCEEDED,
        stage=DiscoveryRound.Stage.MEASURED, progress="done", counts={"generated": 120, "evaluated": 4},
        timings={"generated": 3.2, "evaluated": 61.0},
        metrics={"hit_rate": 0.5, "prevalence": 0.5, "daf": 1.0, "stable_filtered": 1, "evaluated_filtered": 2,
                 "stable_control": 1, "evaluated_control": 2,
                 "new_stable": [{"material_id": crystals[0].material_id, "formula": crystals[0].formula_reduced,
                                 "arm": "filtered", "e_above_hull_ev_per_atom": 0.0}]})
    for i, m in enumerate(crystals):
        Candidate.objects.create(
            round=rnd, key=f"k{i}", method="substitution", parent=m.material_id, formula_reduced=m.formula_reduced,
            chemsys=m.chemsys, nsites=m.nsites, structure=m.structure, screened=True, material=m,
            e_form_pred_ev_per_atom=m.e_form_ev_per_atom + 0.02 * (i - 1.5), e_above_hull_pred_ev_per_atom=0.01,
            arm="filtered" if i % 2 == 0 else "control", evaluation="done", evaluator="CHGNet 0.3.0 relax (FIRE)",
            e_form_ev_per_atom=m.e_form_ev_per_atom)
    page.goto(f"{explorer}/explorer/discovery")
    assert "Li-P-S check" in page.wait_for_selector("#rounds-table").inner_text()
    page.wait_for_selector("#rounds-figure .main-svg")
    assert page.get_attribute(f"#rounds-table a:text-is('#{rnd.pk}')", "href") == f"/explorer/discovery/{rnd.pk}"
    page.click("#round-picker")  # picking a round puts it in the URL, which the router turns into its page
    page.click(f"text=#{rnd.pk} Li-P-S check (succeeded)")
    page.wait_for_function(f"document.location.pathname.endsWith('/explorer/discovery/{rnd.pk}')")
    page.wait_for_selector("#parity-plot .main-svg")
    page.wait_for_function("document.querySelectorAll('#parity-plot .scatterlayer .point').length === 4")
    axes = page.inner_text("#parity-plot")
    assert "GNN ensemble (machine-learned)" in axes and "not DFT" in axes
    shot(page, "7-discovery-round")
    page.click(f"#new-stable a:text-is('{crystals[0].material_id}')")
    page.wait_for_selector("#material-title")
    assert page.url.endswith(f"/explorer/material/{crystals[0].material_id}")
    assert not page.errors and not page.external


def test_predict_a_pasted_cif_see_it_in_3d_beside_the_answer_and_download_it(page, explorer, tmp_path):
    crystal = Material.objects.filter(source="gnome").exclude(structure=None).order_by("material_id").first()
    page.goto(f"{explorer}/explorer/predict")
    page.fill("#predict-text", "not a crystal")  # a bad paste says what is wrong
    page.click("#predict-go")
    assert "could not tell the format" in page.wait_for_selector("#predict-error").inner_text()
    page.fill("#predict-text", crystal.get_structure().to(fmt="cif"))
    page.click("#predict-go")
    table = page.wait_for_selector("#predict-table").inner_text()
    assert "Predicted formation energy" in table and "machine-learned prediction, not a DFT calculation" in table
    for hull in ("all", "mp"):
        assert "meV/atom" in page.inner_text(f"#predict-ehull-{hull}")
    canvas = page.wait_for_selector("#predict-result canvas", state="visible")
    box = canvas.bounding_box()
    assert box["width"] > 200 and box["height"] > 200
    assert page.get_attribute(f"#predict-known a:has-text('{crystal.material_id}')", "href") == \
        f"/explorer/material/{crystal.material_id}"
    crystals = Material.objects.exclude(structure=None).count()  # the nearest known ones, up to 5
    assert len(page.query_selector_all("#predict-similar tbody tr")) == min(5, crystals)
    assert page.query_selector(f"#predict-similar a:has-text('{crystal.material_id}')")  # itself, first
    shot(page, "8-predict")
    with page.expect_download() as download:
        page.click("#predict-download-cif")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert Structure.from_file(path).composition.reduced_formula == crystal.formula_reduced
    assert not page.errors and not page.external
