"""The explorer's campaign pages: each plot (hit rate and prevalence, DAF, screening MAE, new stable materials,
test MAE against training candidates) carries the campaign document's numbers and intervals, the table beside it
the same numbers, missing values show as "—", and unknown campaigns say so. The pages are built from documents made
here, as ``discovery.services.campaign_document`` serves them; the tests that go through the services need the
database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from discovery import services
from frontend.links import campaign_href, discovery_href
from frontend.pages import page_for
from frontend.pages.campaigns import (
    campaign_detail,
    campaign_rows,
    campaigns_block,
    campaigns_page,
    daf_figure,
    hit_rate_figure,
    new_stable_figure,
    scaling_figure,
    screening_mae_figure,
)

from .dash_tree import by_id, has_id, text, walk

needs_services = pytest.mark.skipif(not hasattr(services, "campaign_documents"),
                                    reason="discovery.services has no campaign documents yet")




def retrained(index: int, trained: int, mae: float, low: float, high: float) -> dict:
    return {"checkpoint": f"campaign 3 after round {index}", "checkpoint_id": 6 + index, "candidates_trained": trained,
            "test_mae_ev_per_atom": mae, "test_mae_ci95": [low, high], "test_n": 1048, "activated": index == 1,
            "reasons": [f"DFT test MAE check {index}", f"validation screening MAE check {index}"]}


def campaign(**changes) -> dict:
    """Campaign 3: two measured rounds (the second without a DAF: no stable control candidate) and a third still
    evaluating."""
    rounds = [
        {"index": 1, "round_id": 12, "status": "succeeded", "stage": "retrained", "screened_with": "catalogue-only ensemble",
         "hit_rate": 0.2, "hit_rate_ci95": [0.1, 0.35], "stable_filtered": 8, "evaluated_filtered": 40,
         "prevalence": 0.1, "prevalence_ci95": [0.04, 0.2], "stable_control": 4, "evaluated_control": 40,
         "daf": 2.0, "daf_ci95": [0.7, 5.9],
         "screening_mae_ev_per_atom": 0.12, "screening_mae_ci95": [0.1, 0.14], "screening_mae_n": 80,
         "new_stable": 12, "new_stable_complete": 3, "new_stable_incomplete": 9,
         "retrained": retrained(1, 55, 0.09, 0.085, 0.095)},
        {"index": 2, "round_id": 15, "status": "succeeded", "stage": "retrained",
         "screened_with": "campaign 3 after round 1",
         "hit_rate": 0.325, "hit_rate_ci95": [0.2, 0.48], "stable_filtered": 13, "evaluated_filtered": 40,
         "prevalence": 0.0, "prevalence_ci95": [0.0, 0.088], "stable_control": 0, "evaluated_control": 40,
         "daf": None, "daf_ci95": None,
         "screening_mae_ev_per_atom": 0.075, "screening_mae_ci95": [0.062, 0.089], "screening_mae_n": 78,
         "new_stable": 7, "new_stable_complete": 5, "new_stable_incomplete": 2,
         "retrained": retrained(2, 128, 0.071, 0.067, 0.076)},
        {"index": 3, "round_id": 18, "status": "running", "stage": "evaluated", "screened_with": "campaign 3 after round 2",
         "hit_rate": None, "hit_rate_ci95": None, "stable_filtered": None, "evaluated_filtered": None,
         "prevalence": None, "prevalence_ci95": None, "stable_control": None, "evaluated_control": None,
         "daf": None, "daf_ci95": None,
         "screening_mae_ev_per_atom": None, "screening_mae_ci95": None, "screening_mae_n": None,
         "new_stable": None, "new_stable_complete": None, "new_stable_incomplete": None, "retrained": None},
    ]
    doc = {
        "id": 3, "name": "Li sulfides", "status": "running", "progress": "round 3 of 4: evaluating 12/80",
        "created_at": datetime(2025, 3, 1, 9, 30, tzinfo=UTC), "started_at": datetime(2025, 3, 1, 9, 31, tzinfo=UTC),
        "finished_at": None, "error": "", "created_by": "admin",
        "config": {"rounds": 4, "training": "campaign", "base": "catalogue-only",
                   "round": {"chemsys": ["Li-P-S", "Li-Si-S"], "candidate_budget": 2000, "evaluation_budget": 40,
                             "control_fraction": 1.0, "evaluator": "chgnet", "threshold_ev_per_atom": 0.05},
                   "finetune": {"epochs": 4, "augment": False}},
        "rounds_planned": 4, "rounds_done": 2,
        "base_model": "catalogue-only ensemble", "current_model": "campaign 3 after round 2",
        "energies": "evaluated energies: CHGNet 0.3.0 relaxations (a machine-learned potential, not DFT); "
                    "predictions: the GNN ensemble (machine-learned)",
        "licence": "CC BY-NC 4.0", "rounds": rounds,
        "scaling": [{"round": r["index"], "training_candidates": r["retrained"]["candidates_trained"],
                     "test_mae_ev_per_atom": r["retrained"]["test_mae_ev_per_atom"],
                     "test_mae_ci95": r["retrained"]["test_mae_ci95"], "test_n": r["retrained"]["test_n"],
                     "checkpoint": r["retrained"]["checkpoint"]} for r in rounds[:2]],
    }
    return {**doc, **changes}


def error_bar_ends(trace) -> list[float]:
    """low, high of each point's error bar, one after the other."""
    e = trace.error_y
    return [end for y, minus, plus in zip(trace.y, e.arrayminus, e.array, strict=True) for end in (y - minus, y + plus)]


def rows_of(page, id_: str) -> list[dict]:
    return by_id(page, id_).data


def test_it_plots_hit_rate_and_prevalence_with_their_wilson_intervals():
    doc = campaign()
    hit, prevalence = hit_rate_figure(doc["rounds"]).data
    assert list(hit.x) == list(prevalence.x) == ["Round 1", "Round 2"]  # round 3 is not measured yet
    assert list(hit.y) == [0.2, 0.325] and list(prevalence.y) == [0.1, 0.0]
    assert error_bar_ends(hit) == pytest.approx([0.1, 0.35, 0.2, 0.48])
    assert error_bar_ends(prevalence) == pytest.approx([0.04, 0.2, 0.0, 0.088])
    assert [list(c) for c in hit.customdata] == [[8, 40], [13, 40]]
    assert [list(c) for c in prevalence.customdata] == [[4, 40], [0, 40]]
    assert rows_of(campaign_detail(doc), "campaign-hit-rate-table") == [
        {"round": "Round 1", "hit_rate": "20.0 %", "hit_rate_ci95": "10.0 % to 35.0 %", "filtered": "8 / 40",
         "prevalence": "10.0 %", "prevalence_ci95": "4.0 % to 20.0 %", "control": "4 / 40"},
        {"round": "Round 2", "hit_rate": "32.5 %", "hit_rate_ci95": "20.0 % to 48.0 %", "filtered": "13 / 40",
         "prevalence": "0.0 %", "prevalence_ci95": "0.0 % to 8.8 %", "control": "0 / 40"},
        {"round": "Round 3", "hit_rate": "—", "hit_rate_ci95": "—", "filtered": "—", "prevalence": "—",
         "prevalence_ci95": "—", "control": "—"},
    ]


def test_it_plots_the_daf_with_its_katz_interval_and_the_line_at_one():
    doc = campaign()
    figure = daf_figure(doc["rounds"])
    (daf,) = figure.data
    assert list(daf.x) == ["Round 1"] and list(daf.y) == [2.0]  # round 2 has no DAF: no stable control candidate
    assert error_bar_ends(daf) == pytest.approx([0.7, 5.9])
    lines = [s for s in figure.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].y0 == lines[0].y1 == 1 and lines[0].line.dash == "dash"
    assert rows_of(campaign_detail(doc), "campaign-daf-table") == [
        {"round": "Round 1", "daf": "2.00", "daf_ci95": "0.70 to 5.90"},
        {"round": "Round 2", "daf": "—", "daf_ci95": "—"},
        {"round": "Round 3", "daf": "—", "daf_ci95": "—"},
    ]


def test_it_plots_the_screening_error_measured_before_training_on_the_round():
    doc = campaign()
    (mae,) = screening_mae_figure(doc["rounds"]).data
    assert list(mae.x) == ["Round 1", "Round 2"]
    assert list(mae.y) == pytest.approx([120.0, 75.0])  # meV/atom
    assert error_bar_ends(mae) == pytest.approx([100.0, 140.0, 62.0, 89.0])
    assert [list(c) for c in mae.customdata] == [[80, "catalogue-only ensemble"], [78, "campaign 3 after round 1"]]
    page = campaign_detail(doc)
    assert rows_of(page, "campaign-mae-table") == [
        {"round": "Round 1", "mae": "120.0", "mae_ci95": "100.0 to 140.0", "n": 80,
         "screened_with": "catalogue-only ensemble"},
        {"round": "Round 2", "mae": "75.0", "mae_ci95": "62.0 to 89.0", "n": 78,
         "screened_with": "campaign 3 after round 1"},
        {"round": "Round 3", "mae": "—", "mae_ci95": "—", "n": "—", "screened_with": "campaign 3 after round 2"},
    ]
    assert "before it was fine-tuned on them" in text(page)


def test_it_stacks_new_stable_materials_by_hull_completeness():
    doc = campaign()
    figure = new_stable_figure(doc["rounds"])
    assert figure.layout.barmode == "stack"
    traces = {t.name: t for t in figure.data}
    assert set(traces) == {"Complete hull", "Incomplete hull"}  # every count is split: no "unknown" bar
    assert list(traces["Complete hull"].y) == [3, 5] and list(traces["Incomplete hull"].y) == [9, 2]
    page = campaign_detail(doc)
    assert rows_of(page, "campaign-new-stable-table") == [
        {"round": "Round 1", "complete": 3, "incomplete": 9, "new_stable": 12},
        {"round": "Round 2", "complete": 5, "incomplete": 2, "new_stable": 7},
        {"round": "Round 3", "complete": "—", "incomplete": "—", "new_stable": "—"},
    ]
    assert "is a weaker claim" in text(page)
    unsplit = [{**doc["rounds"][0], "new_stable_complete": None, "new_stable_incomplete": 9}]
    assert list({t.name: t for t in new_stable_figure(unsplit).data}["Completeness unknown"].y) == [3]


def test_it_plots_test_error_against_training_candidates_on_log_axes():
    doc = campaign()
    figure = scaling_figure(doc["scaling"])
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "log"
    (points,) = figure.data
    assert list(points.x) == [55, 128] and list(points.y) == pytest.approx([90.0, 71.0])
    assert error_bar_ends(points) == pytest.approx([85.0, 95.0, 67.0, 76.0])
    assert [c[1] for c in points.customdata] == [1048, 1048]  # n of the test set
    assert "held-out" in figure.layout.yaxis.title.text
    assert rows_of(campaign_detail(doc), "campaign-scaling-table") == [
        {"round": 1, "training_candidates": 55, "test_mae": "90.0", "test_mae_ci95": "85.0 to 95.0", "test_n": 1048,
         "checkpoint": "campaign 3 after round 1"},
        {"round": 2, "training_candidates": 128, "test_mae": "71.0", "test_mae_ci95": "67.0 to 76.0", "test_n": 1048,
         "checkpoint": "campaign 3 after round 2"},
    ]


def test_the_header_shows_status_models_configuration_energies_and_licence():
    page = campaign_detail(campaign(base_model=None))
    assert text(by_id(page, "campaign-title")).startswith("Campaign #3 Li sulfides") and "Running" in text(page)
    assert text(by_id(page, "campaign-progress")) == "round 3 of 4: evaluating 12/80"
    summary = {text(tr.children[0]): text(tr.children[1]) for tr in by_id(page, "campaign-summary").children.children}
    assert summary["Rounds done"] == "2 of 4" and summary["Base model"] == "—"
    assert summary["Current model"] == "campaign 3 after round 2" and summary["Licence"] == "CC BY-NC 4.0"
    assert summary["Energies"].startswith("evaluated energies: CHGNet 0.3.0 relaxations (a machine-learned potential")
    assert summary["Created"].startswith("2025-03-01") and summary["Created"].endswith("by admin")
    assert summary["Finished"] == "—"
    config = {text(tr.children[0]): text(tr.children[1]) for tr in by_id(page, "campaign-config").children.children}
    assert config["rounds"] == "4" and config["round.chemsys"] == "Li-P-S, Li-Si-S"
    assert config["round.evaluation_budget"] == "40" and config["finetune.augment"] == "no"
    assert "DFT" not in text(page).replace("not DFT", "")  # no energy is called DFT
    assert not has_id(page, "campaign-error")
    failed = campaign_detail(campaign(status="failed", error="round 3: evaluator crashed"))
    assert "The campaign failed: round 3: evaluator crashed" in text(by_id(failed, "campaign-error"))


def test_it_links_each_round_to_its_page():
    rows = rows_of(campaign_detail(campaign()), "campaign-rounds")
    assert [r["round"] for r in rows] == [f"[#{i}]({discovery_href(i)})" for i in (12, 15, 18)]
    assert discovery_href(12) == "/explorer/discovery/12"
    first, _, last = rows
    assert (first["checkpoint"], first["trained"], first["activated"]) == ("campaign 3 after round 1", 55, "yes")
    assert first["reasons"] == "DFT test MAE check 1; validation screening MAE check 1"
    assert (last["checkpoint"], last["trained"], last["activated"], last["reasons"]) == ("—", "—", "—", "—")
    assert last["stage"] == "Candidates evaluated"


def test_a_campaign_without_measured_rounds_shows_notices_instead_of_plots():
    doc = campaign(rounds=[{**campaign()["rounds"][2], "index": 1}], scaling=[], rounds_done=0)
    page = campaign_detail(doc)
    for notice in ("no-hit-rate", "no-daf", "no-screening-mae", "no-new-stable", "no-scaling"):
        assert has_id(page, notice), notice
    assert not any(isinstance(getattr(c, "id", None), str) and c.id.startswith("campaign-") and hasattr(c, "figure")
                   for c in walk(page))
    assert "has not been fine-tuned" in text(by_id(page, "no-scaling"))
    empty = campaign_detail(campaign(rounds=[], scaling=[], rounds_done=0))
    assert has_id(empty, "no-campaign-rounds") and not has_id(empty, "campaign-rounds")


def test_the_list_shows_each_campaigns_last_rates_and_new_stable_total():
    newer = campaign(id=4, name="", status="pending", rounds=[], scaling=[], rounds_done=0, rounds_planned=2)
    rows = campaign_rows([newer, campaign()])
    assert rows == [
        {"id": f"[#4]({campaign_href(4)})", "name": "—", "status": "Pending", "rounds": "0 of 2", "hit_rate": "—",
         "daf": "—", "new_stable": "—"},
        # the last hit rate is round 2's; the last DAF round 1's (round 2 has none)
        {"id": "[#3](/explorer/discovery/campaigns/3)", "name": "Li sulfides", "status": "Running",
         "rounds": "2 of 4", "hit_rate": "32.5 %", "daf": "2.00 (0.70 to 5.90)", "new_stable": 19},
    ]
    block = campaigns_block([campaign()])
    assert by_id(block, "campaigns-table").data == campaign_rows([campaign()])
    assert "No campaigns yet" in text(by_id(campaigns_block([]), "no-campaigns"))


def test_links_and_routes_to_campaigns():
    assert campaign_href() == "/explorer/discovery/campaigns"
    assert campaign_href(3) == "/explorer/discovery/campaigns/3"
    page, _ = page_for("/explorer/discovery/campaigns/abc", "")  # matched before the round ids of /discovery/<id>
    assert "campaign ids are whole numbers" in text(by_id(page, "campaign-not-found"))
    assert "whole numbers" in text(by_id(campaigns_page("x1"), "campaign-not-found"))


@needs_services
@pytest.mark.django_db
def test_an_unknown_campaign_says_so():
    assert "No campaign #999999." in text(by_id(campaigns_page("999999"), "campaign-not-found"))
    page, _ = page_for("/explorer/discovery/campaigns/999999/", "")
    assert has_id(page, "campaign-not-found")


@needs_services
@pytest.mark.django_db
def test_without_campaigns_the_pages_say_so():
    from frontend.pages.discovery import discovery_page

    assert has_id(campaigns_page(), "no-campaigns") and not has_id(campaigns_page(), "campaigns-table")
    page, _ = page_for("/explorer/discovery/campaigns", "")
    assert has_id(page, "no-campaigns")
    assert has_id(by_id(discovery_page(), "campaigns-block"), "no-campaigns")
