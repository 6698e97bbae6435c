"""The explorer's discovery page: the rounds table and plot, one round's parity plot, new stable materials,
configuration and timings, built from DiscoveryRound and Candidate rows holding real sample structures."""

from __future__ import annotations

import hashlib

import pytest
from pymatgen.core import Structure

from discovery.api import round_doc
from discovery.evaluation import evaluator_named
from discovery.models import Candidate, DiscoveryRound
from discovery.rounds import DEFAULTS, material_id_of
from frontend.links import discovery_href
from frontend.pages.discovery import discovery_page
from materials.models import Licence, Material, Source
from materials.science import structure_fields

from ..conftest import read_sample_rows
from .dash_tree import by_id, has_id, text, walk

pytestmark = pytest.mark.django_db

# (arm, evaluation, ensemble's error on the formation energy in eV/atom, stable after the hull update)
PLAN = [
    ("filtered", "done", -0.021, True), ("filtered", "done", 0.034, True), ("filtered", "done", 0.012, False),
    ("filtered", "done", -0.047, True), ("control", "done", 0.062, True), ("control", "done", -0.018, False),
    ("control", "done", 0.105, False), ("control", "done", 0.040, False), ("filtered", "failed", 0.0, None),
    ("", "", 0.0, None),
]
TIMINGS = {"generated": 12.4, "screened": 95.2, "selected": 0.31, "evaluated": 842.0, "ingested": 1.9, "hull": 30.5,
           "measured": 0.2, "_evaluate_started": 1.7e9}




def figure_texts(figure) -> list[str]:
    layout = figure.to_plotly_json()["layout"]
    texts = [(layout.get(key) or {}).get("title", {}).get("text") or "" for key in ("xaxis", "yaxis", "yaxis2")]
    texts.append((layout.get("title") or {}).get("text") or "")
    for trace in figure.data:
        texts += [trace.name or "", trace.hovertemplate or ""]
    return texts


def no_dft_claim(value: str) -> bool:
    """True when the text never calls an energy DFT (saying "not DFT" is allowed)."""
    return "DFT" not in value.replace("not DFT", "")


@pytest.fixture
def measured_round(data_dir):
    """A finished round: ten candidates on real sample structures (eight evaluated, one failed, one not chosen),
    its metrics worked out from them as ``discovery.rounds.measure`` does, and the stable ones stored."""
    rows = read_sample_rows(data_dir, len(PLAN))
    rnd = DiscoveryRound.objects.create(
        name="Al intermetallics", config={**DEFAULTS, "chemsys": ["Al-Ga-Nd-Rh"], "evaluation_budget": 5,
                                          "control_fraction": 0.8},
        status=DiscoveryRound.Status.SUCCEEDED, stage=DiscoveryRound.Stage.MEASURED, progress="done",
        created_by="admin", timings=TIMINGS)
    method = evaluator_named("chgnet", fmax=0.05, max_steps=300).method
    for row, (arm, evaluation, error, stable) in zip(rows, PLAN, strict=True):
        structure = Structure.from_str(row["cif"], fmt="cif")
        evaluated = row["e_form_per_atom"] if evaluation == "done" else None
        candidate = Candidate.objects.create(
            round=rnd, key=hashlib.sha256(row["cif"].encode()).hexdigest()[:16], method="substitution",
            parent=row["material_id"], formula_reduced=structure.composition.reduced_formula,
            chemsys=row["elements"], nsites=len(structure), structure=structure.as_dict(), screened=True,
            e_form_pred_ev_per_atom=row["e_form_per_atom"] + error, e_form_iqr_ev_per_atom=0.015,
            e_above_hull_pred_ev_per_atom=0.01 + error, arm=arm, evaluation=evaluation,
            evaluator=method if evaluation else "", e_form_ev_per_atom=evaluated,
            e_above_hull_ev_per_atom=None if stable is None else (0.0 if stable else 0.042 + abs(error)),
            is_stable=stable, evaluation_detail={"error": "CHGNet 0.3.0 failed"} if evaluation == "failed" else {})
        if stable:
            material = Material.objects.create(
                material_id=material_id_of(candidate), source=Source.DISCOVERY, licence=Licence.CC_BY_NC_4,
                structure=structure.as_dict(), e_form_ev_per_atom=evaluated, energy_method=method[:80],
                dataset="GNoME Explorer discovery rounds", dataset_version=f"round {rnd.pk}",
                row_hash=candidate.key, **structure_fields(structure))
            Candidate.objects.filter(pk=candidate.pk).update(material=material)
    done = list(Candidate.objects.filter(round=rnd, evaluation="done").select_related("material"))
    arms = {a: [c.is_stable for c in done if c.arm == a] for a in ("filtered", "control")}
    hit_rate, prevalence = sum(arms["filtered"]) / len(arms["filtered"]), sum(arms["control"]) / len(arms["control"])
    rnd.counts = {"seeds": 4, "generated": 1830, "screened": 1822, "below_threshold": 41, "selected": 5,
                  "control": 4, "evaluated": len(done), "evaluation_failed": 1, "ingested": len(done)}
    rnd.metrics = {
        "hit_rate": hit_rate, "prevalence": prevalence, "daf": hit_rate / prevalence,
        "stable_filtered": sum(arms["filtered"]), "evaluated_filtered": len(arms["filtered"]),
        "stable_control": sum(arms["control"]), "evaluated_control": len(arms["control"]),
        "ensemble_mae_ev_per_atom": sum(abs(c.e_form_pred_ev_per_atom - c.e_form_ev_per_atom) for c in done) / len(done),
        "new_stable": sorted(({"material_id": c.material.material_id, "formula": c.formula_reduced, "arm": c.arm,
                               "e_above_hull_ev_per_atom": c.e_above_hull_ev_per_atom} for c in done if c.is_stable),
                             key=lambda x: x["material_id"]),
        "new_stable_compositions": sorted({c.formula_reduced for c in done if c.is_stable}),
        "energies": "evaluated with chgnet (a machine-learned potential, not DFT)",
    }
    rnd.save()
    return rnd


@pytest.fixture
def running_round(measured_round):
    """A newer round still screening: generated, nothing evaluated or measured yet."""
    return DiscoveryRound.objects.create(
        name="Li-P-S", config={**DEFAULTS, "chemsys": ["Li-P-S"]}, status=DiscoveryRound.Status.RUNNING,
        stage=DiscoveryRound.Stage.GENERATED, progress="screening: chunk 2/4", counts={"generated": 1950},
        timings={"generated": 20.5, "_screen_started": 1.7e9})


def test_without_rounds_the_page_says_how_they_start():
    page = discovery_page()
    notice = text(by_id(page, "no-rounds"))
    assert "No discovery rounds yet; admins start them from the admin panel" in notice
    assert not has_id(page, "rounds-table") and not has_id(page, "rounds-figure")
    assert "No discovery round #7" in text(by_id(discovery_page("7"), "round-not-found"))


def test_the_table_lists_rounds_newest_first_with_their_rates(measured_round, running_round):
    rows = by_id(discovery_page(), "rounds-table").data
    assert [r["id"] for r in rows] == [f"[#{running_round.pk}](/explorer/discovery/{running_round.pk})",
                                       f"[#{measured_round.pk}](/explorer/discovery/{measured_round.pk})"]
    new, done = rows
    assert done == {
        "id": done["id"], "name": "Al intermetallics", "status": "Succeeded", "stage": "Metrics recorded",
        "progress": "done", "generated": 1830, "evaluated": 8, "hit_rate": "75.0 %", "prevalence": "25.0 %",
        "daf": "3.00", "new_stable": 4, "created": done["created"]}
    assert done["created"].startswith(f"{measured_round.created_at:%Y-%m-%d}")
    assert (new["status"], new["stage"], new["progress"], new["generated"]) == (
        "Running", "Candidates generated", "screening: chunk 2/4", 1950)
    assert new["hit_rate"] == new["prevalence"] == new["daf"] == new["evaluated"] == new["new_stable"] == "—"


def test_the_rates_plot_shows_each_measured_round(measured_round, running_round):
    figure = by_id(discovery_page(), "rounds-figure").figure
    hit, prevalence, daf = figure.data
    label = f"#{measured_round.pk} Al intermetallics"  # the running round has no rates yet: not plotted
    assert list(hit.x) == list(prevalence.x) == list(daf.x) == [label]
    assert list(hit.y) == [measured_round.metrics["hit_rate"]] == [0.75]
    assert list(prevalence.y) == [measured_round.metrics["prevalence"]] == [0.25]
    assert list(daf.y) == [measured_round.metrics["daf"]] and daf.yaxis == "y2"
    assert list(hit.customdata[0]) == [3, 4, "3.00"]  # stable, evaluated, DAF in the hover
    assert "DAF" in hit.hovertemplate
    assert all(no_dft_claim(t) for t in figure_texts(figure))


def test_a_round_shows_predicted_against_evaluated_energies_by_arm(measured_round):
    page = discovery_page(str(measured_round.pk))
    figure = by_id(page, "parity-plot").figure
    traces = {t.name: t for t in figure.data}
    assert set(traces) == {"Selected by the model", "Random control (unfiltered)", "y = x"}
    for arm, name in (("filtered", "Selected by the model"), ("control", "Random control (unfiltered)")):
        expected = Candidate.objects.filter(round=measured_round, arm=arm, evaluation="done").order_by("pk")
        assert list(traces[name].x) == [c.e_form_pred_ev_per_atom for c in expected]
        assert list(traces[name].y) == [c.e_form_ev_per_atom for c in expected]
        assert list(traces[name].text) == [c.formula_reduced for c in expected]
    assert len(traces["Selected by the model"].x) == 4  # of five picks: the failed evaluation is not plotted
    line = traces["y = x"]
    assert list(line.x) == list(line.y)
    energies = [v for t in figure.data[:2] for v in (*t.x, *t.y)]
    assert line.x[0] < min(energies) and line.x[1] > max(energies)
    assert "1 evaluation(s) failed" in text(by_id(page, "round-detail"))


def test_energies_are_labelled_with_the_models_that_made_them(measured_round):
    page = discovery_page(str(measured_round.pk))
    figure = by_id(page, "parity-plot").figure
    x_title, y_title = figure.layout.xaxis.title.text, figure.layout.yaxis.title.text
    assert x_title == "Predicted formation energy (eV/atom)<br>GNN ensemble (machine-learned)"
    assert y_title == "Evaluated formation energy (eV/atom)<br>CHGNet 0.3.0 (machine-learned potential, not DFT)"
    assert all(no_dft_claim(t) for t in figure_texts(figure))
    summary = text(by_id(page, "round-detail"))
    assert "GNN ensemble (machine-learned)" in summary
    assert "CHGNet 0.3.0 (machine-learned potential, not DFT)" in summary
    # the screening panel's "DFT test MAE" is the model's error on the GNoME DFT labels (its own test below)
    panel = text(by_id(page, "screening-panel"))
    assert "DFT test MAE" in panel and no_dft_claim(text(page).replace(panel, ""))
    # the label is the REST API's evaluator, named
    assert round_doc(measured_round, full=True)["energies"]["evaluated"].endswith("(machine-learned potential, not DFT)")


def test_new_stable_materials_link_to_their_pages(measured_round):
    page = discovery_page(str(measured_round.pk))
    links = [c for c in walk(by_id(page, "new-stable")) if getattr(c, "href", None)]
    stable = [x["material_id"] for x in measured_round.metrics["new_stable"]]
    assert [a.children for a in links] == stable and len(stable) == 4
    assert [a.href for a in links] == [f"/explorer/material/{m}" for m in stable]
    assert set(stable) == set(Material.objects.filter(source=Source.DISCOVERY).values_list("material_id", flat=True))
    assert "random control" in text(by_id(page, "new-stable"))  # the control arm's stable find says so


def test_configuration_and_time_per_stage(measured_round):
    page = discovery_page(str(measured_round.pk))
    config = {text(tr.children[0]).strip(): text(tr.children[1]).strip() for tr in by_id(page, "round-config")
              .children.children}
    assert config["chemsys"] == "Al-Ga-Nd-Rh" and config["evaluator"] == "chgnet"
    assert config["generators"] == "substitution, saps" and config["threshold_ev_per_atom"] == "0.05"
    assert config["cluster"] == "no" and config["screened with"] == "released GNN ensemble"
    rows = [[text(td).strip() for td in tr.children] for tr in by_id(page, "round-timings").children[1].children]
    assert rows == [["Candidates generated", "12.4 s"], ["Candidates screened", "1 min 35 s"],
                    ["Candidates selected", "0.3 s"], ["Candidates evaluated", "14 min 02 s"],
                    ["Materials stored", "1.9 s"], ["Hull updated", "30.5 s"], ["Metrics recorded", "0.2 s"],
                    ["Total", "16 min 23 s"]]


def test_a_round_in_progress_has_clear_empty_states(running_round):
    page = discovery_page(str(running_round.pk))
    assert "No evaluated candidates yet" in text(by_id(page, "no-parity"))
    assert "once the round reaches the hull" in text(by_id(page, "no-new-stable"))
    assert not has_id(page, "parity-plot") and not has_id(page, "new-stable")
    assert by_id(page, "round-picker").value == running_round.pk
    assert "Candidates generated" in text(by_id(page, "round-timings"))
    overview = discovery_page()
    assert has_id(overview, "no-round-picked") and not has_id(overview, "round-detail")


def test_unknown_round_ids_say_so(measured_round):
    assert "No discovery round #999999" in text(by_id(discovery_page("999999"), "round-not-found"))
    assert "whole numbers" in text(by_id(discovery_page("abc"), "round-not-found"))
    assert discovery_href(measured_round.pk) == f"/explorer/discovery/{measured_round.pk}"


def test_the_page_says_how_the_screening_model_screens_unrelaxed_candidates():
    """The released ensemble's figures on held-out evaluated candidates (released/screening.json), with the
    sample size and intervals, labelled as the model's and the potential's, not DFT."""
    import json

    from discovery.training import RELEASED_SCREENING

    card = json.loads(RELEASED_SCREENING.read_text())
    panel = text(by_id(discovery_page(), "screening-panel"))
    figures = card["tta" if card["screen_tta"] else "no_tta"]
    assert f"{figures['n']} test candidates" in panel and "not DFT" in panel and "machine-learned" in panel
    assert f"{figures['at_threshold']['passed']} of {figures['n']}" in panel
    assert "DAF" in panel and "95 %" in panel and "MAE / bias" in panel
