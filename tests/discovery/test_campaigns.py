"""Active-learning campaigns in this process on a real catalogue slice: configuration errors, a two-round
campaign whose second round screens with the ensemble fine-tuned on the first round's evaluations, pause,
resume and cancel, the REST API and the admin start form. (A campaign driven by Celery workers, one of them
killed mid-round, is in tests/reliability/test_campaign_worker.py.)"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from discovery import campaigns, learning
from discovery.gnn.data import candidate_split
from discovery.models import Campaign, Candidate, DiscoveryRound, ModelCheckpoint, TrainingExample
from frontend.pages.campaigns import campaigns_page
from hullapi import services
from hullapi.models import HullSet
from materials.models import Material, Source
from tests.frontend.dash_tree import by_id

ROUND = {"seeds": [], "candidate_budget": 60, "evaluation_budget": 4, "control_fraction": 1.0,
         "max_steps": 5, "screen_chunk": 30, "evaluate_chunk": 2, "tta": False}
TINY = {"rounds": 2, "round": ROUND, "base": "catalogue-only", "training": "campaign", "finetune_epochs": 3,
        "finetune_learning_rate": 3e-4,
        "finetune_members": 2, "dft_limit": 300, "finetune_workers": 1}


def shipped_slice(path, tmp_path, splits=("validation", "test"), n=120):
    """The first ``n`` labelled lines of the shipped evaluated candidates in ``splits``, as a file to import."""
    with gzip.open(path, "rt") as fh:
        lines = [line for line in fh if json.loads(line)["e_form_ev_per_atom"] is not None
                 and candidate_split(json.loads(line)["parent_formula"]) in splits][:n]
    out = tmp_path / "slice.jsonl.gz"
    with gzip.open(out, "wt") as fh:
        fh.write("".join(lines))
    return out


def small_seeds(gnome: list[dict], n: int = 4) -> list[str]:
    """Ids of ``n`` small sample crystals with an anion (oxides, chalcogenides, halides, nitrides; three or more elements)
    whose formulas are in the candidate training split (a candidate's split is its parent's), so that what the
    rounds evaluate can be trained on."""
    rows = [r for r in gnome if candidate_split(r["reduced_formula"]) == "train" and r["nsites"] <= 12
            and len(r["elements"].split("-")) >= 3 and "Yb" not in r["elements"].split("-")
            and {"O", "S", "Se", "Te", "F", "Cl", "Br", "I", "N"} & set(r["elements"].split("-"))]
    assert len(rows) >= n
    return [r["material_id"] for r in rows[:n]]


def build_world(tmp_path, data_dir, mp_rows) -> list[str]:
    """The first 300 GNoME sample crystals (DFT training and test splits both present) with the snapshot's
    phases of their systems and both hulls, and shipped validation and test candidates (what the activation
    rule and the scaling plot measure on; none is trained on). Returns the seed ids of the campaigns."""
    from tests.conftest import hull_phases_of, load_rows, read_sample_rows

    gnome = read_sample_rows(data_dir, 300)
    load_rows(tmp_path, hull_phases_of(gnome, mp_rows), gnome, list(mp_rows[0]))
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    shipped = Path(learning.__file__).resolve().parent / "data" / "evaluated_candidates.jsonl.gz"
    assert learning.import_examples(shipped_slice(shipped, tmp_path))["added"] == 120
    return small_seeds(gnome)


def tiny(seeds: list[str], **changes) -> dict:
    """A campaign configuration of TINY size seeded with ``seeds``."""
    return {**TINY, "round": {**ROUND, "seeds": seeds}, **changes}


@pytest.fixture
def world(tmp_path, data_dir, mp_rows, db, settings) -> list[str]:
    settings.VAR_DIR = tmp_path / "var"
    return build_world(tmp_path, data_dir, mp_rows)


def test_a_bad_configuration_is_refused_naming_each_bad_field():
    with pytest.raises(campaigns.CampaignError) as bad:
        campaigns.validate_campaign_config({"rounds": 0, "base": "yesterday", "training": "some", "colour": 1,
                                            "round": {"chemsys": ["Li-Qq"]}})
    assert "unknown campaign setting(s): colour" in str(bad.value)
    with pytest.raises(campaigns.CampaignError) as bad:
        campaigns.validate_campaign_config({"rounds": 0, "base": "yesterday", "training": "some",
                                            "finetune_members": 0, "round": {"chemsys": ["Li-Qq"]}})
    text = str(bad.value)
    assert "rounds must be an integer from 1 to 50 (got '0')" in text
    assert "base must be one of released, catalogue-only, active (got 'yesterday')" in text
    assert "training must be one of all, campaign" in text and "finetune_members must be null or an integer" in text
    assert "round: chemical system 'Li-Qq' has unknown element(s): Qq" in text
    with pytest.raises(campaigns.CampaignError, match="round.retrain: a campaign retrains after every round"):
        campaigns.validate_campaign_config({"round": {"chemsys": ["Li-O"], "retrain": True}})
    with pytest.raises(campaigns.CampaignError, match="the configuration must be an object"):
        campaigns.validate_campaign_config(["rounds", 4])
    config = campaigns.validate_campaign_config({"round": {"chemsys": ["Li-O"]}})
    assert config["rounds"] == 4 and config["round"]["control_fraction"] == 0.5 and config["training"] == "all"


def test_a_two_round_campaign_learns_from_its_first_round_before_screening_its_second(world):
    campaign = campaigns.create_campaign(tiny(world), name="small", user="test")
    base = campaign.base_checkpoint
    assert base.path.endswith("catalogue_only") and campaign.current_checkpoint_id == base.pk
    seen = []
    campaign = campaigns.run_inline(campaign.pk, on_round=seen.append)
    assert campaign.status == Campaign.Status.SUCCEEDED, campaign.error
    assert [r.campaign_index for r in seen] == [1, 2]
    first, second = DiscoveryRound.objects.filter(campaign=campaign).order_by("campaign_index")
    assert first.status == second.status == DiscoveryRound.Status.SUCCEEDED
    assert first.checkpoint_id == base.pk  # round 1 screened with the catalogue-only ensemble
    assert first.config["random_seed"] + 1 == second.config["random_seed"]
    # round 1's evaluations became training examples, and the fine-tune after it learned from them (only them)
    trained = first.metrics["retrained"]
    examples = TrainingExample.objects.filter(candidate__round=first, split="train").exclude(e_form_ev_per_atom=None)
    assert examples.count() > 0
    assert trained["candidates_by_round"] == {str(first.pk): examples.count()} == {
        str(first.pk): trained["candidates_trained"]}
    tuned = ModelCheckpoint.objects.get(pk=trained["checkpoint_id"])
    assert tuned.status == ModelCheckpoint.Status.SUCCEEDED and not tuned.active  # the site's model is left alone
    assert tuned.training["warm_start"] == base.path
    # the rule decided; round 2 screened with what it chose, and its metrics are those of that ensemble
    assert second.checkpoint_id == (tuned.pk if trained["activated"] else base.pk)
    assert trained["activated"] == tuned.metrics["decision"]["activate"]
    test_examples = TrainingExample.objects.filter(split="test").exclude(e_form_ev_per_atom=None).count()
    assert test_examples - 5 <= trained["test_n"] <= test_examples  # a few are beyond the model's elements
    assert 0 < trained["test_mae_ci95"][0] <= trained["test_mae_ev_per_atom"] <= trained["test_mae_ci95"][1]
    # round 2's fine-tune learned from both rounds
    assert set(second.metrics["retrained"]["candidates_by_round"]) <= {str(first.pk), str(second.pk)}
    # nothing stored twice: one material per evaluated structure across both rounds
    evaluated = Candidate.objects.filter(round__campaign=campaign, evaluation="done")
    assert evaluated.count() == first.counts["evaluated"] + second.counts["evaluated"]
    discovered = Material.objects.filter(source=Source.DISCOVERY)
    assert discovered.count() == len(set(evaluated.values_list("material__material_id", flat=True)))
    # both arms were evaluated every round, and each DAF has its interval (or says why not)
    for rnd in (first, second):
        m = rnd.metrics
        assert m["evaluated_control"] == 4 and m["evaluated_filtered"] <= 4
        assert m["ensemble_mae_n"] == m["evaluated_control"] + m["evaluated_filtered"]
        if m["evaluated_filtered"]:
            assert m["daf_ci95"] is not None
    # the document the API and the explorer read
    doc = campaigns.campaign_doc(campaign)
    assert doc["rounds_done"] == 2 == doc["rounds_planned"] and [r["index"] for r in doc["rounds"]] == [1, 2]
    assert doc["scaling"][0]["training_candidates"] == examples.count()
    assert "not DFT" in doc["energies"] and doc["licence"].startswith("CC BY-NC 4.0")
    # the explorer's campaign page plots what the document says, round by round, beside its tables
    page = campaigns_page(str(campaign.pk))
    hit_rates = by_id(page, "campaign-hit-rate").figure.data[0]
    assert list(hit_rates.y) == [r["hit_rate"] for r in doc["rounds"] if r["hit_rate"] is not None]
    scaling = by_id(page, "campaign-scaling").figure
    assert scaling.layout.xaxis.type == scaling.layout.yaxis.type == "log"
    assert list(scaling.data[0].x) == [p["training_candidates"] for p in doc["scaling"]]
    assert len(by_id(page, "campaign-daf-table").data) == 2
    # the earlier rounds' new stable crystals seed the later ones
    assert set(x["material_id"] for x in first.metrics["new_stable"]) <= set(second.config["seeds"])
    # running it again does nothing more
    assert campaigns.step(campaign.pk) is None
    assert DiscoveryRound.objects.filter(campaign=campaign).count() == 2


def test_pause_resume_and_cancel(world):
    campaign = campaigns.create_campaign(tiny(world, rounds=3), name="steered")
    first = campaigns.step(campaign.pk)
    assert campaigns.step(campaign.pk) == first  # an unfinished round is driven again, not a second one made
    assert campaigns.pause(campaign.pk)
    assert campaigns.step(campaign.pk) is None  # paused: no round to drive
    DiscoveryRound.objects.filter(pk=first).update(status=DiscoveryRound.Status.FAILED, error="boom")
    assert campaigns.resume(campaign.pk)
    assert campaigns.step(campaign.pk) == first  # the failed round is retried
    assert DiscoveryRound.objects.get(pk=first).status == DiscoveryRound.Status.PENDING
    DiscoveryRound.objects.filter(pk=first).update(status=DiscoveryRound.Status.FAILED, error="boom again")
    assert campaigns.step(campaign.pk) is None
    failed = Campaign.objects.get(pk=campaign.pk)
    assert failed.status == Campaign.Status.FAILED and "round 1" in failed.error and "boom again" in failed.error
    assert campaigns.resume(campaign.pk) and campaigns.cancel(campaign.pk)
    assert DiscoveryRound.objects.get(pk=first).status == DiscoveryRound.Status.CANCELLED
    assert not campaigns.resume(campaign.pk) and not campaigns.cancel(campaign.pk) and not campaigns.pause(campaign.pk)
    assert campaigns.step(campaign.pk) is None


def test_the_api_serves_campaigns_to_everyone_and_lets_only_staff_start_or_steer_them(
        world, client, admin_client, django_capture_on_commit_callbacks):
    assert client.get("/api/v1/discovery/campaigns/").json() == {"data": []}
    refused = client.post("/api/v1/discovery/campaigns/", tiny(world), content_type="application/json")
    assert refused.status_code == 403 and not Campaign.objects.exists()
    bad = admin_client.post("/api/v1/discovery/campaigns/", tiny(world, rounds="four"),
                            content_type="application/json")
    assert bad.status_code == 400 and "rounds must be an integer" in str(bad.json()["config"])
    with django_capture_on_commit_callbacks(execute=True):  # eager tasks: the campaign runs in the commit hook
        started = admin_client.post("/api/v1/discovery/campaigns/", tiny(world, rounds=1, name="via api"),
                                    content_type="application/json")
    assert started.status_code == 202
    pk = started.json()["data"]["id"]
    doc = client.get(f"/api/v1/discovery/campaigns/{pk}/").json()["data"]
    assert doc["name"] == "via api" and doc["status"] == "succeeded" and doc["rounds_done"] == 1
    row = doc["rounds"][0]
    assert row["evaluated_control"] == 4 and row["screened_with"].startswith("catalogue-only ensemble")
    assert client.get("/api/v1/discovery/campaigns/").json()["data"][0]["id"] == pk
    assert client.get("/api/v1/discovery/campaigns/999999/").status_code == 404
    assert client.post(f"/api/v1/discovery/campaigns/{pk}/", {"action": "pause"},
                       content_type="application/json").status_code == 403
    ended = admin_client.post(f"/api/v1/discovery/campaigns/{pk}/", {"action": "pause"}, content_type="application/json")
    assert ended.status_code == 400 and "cannot pause campaign" in str(ended.json()["action"])
    unknown = admin_client.post(f"/api/v1/discovery/campaigns/{pk}/", {"action": "stop"}, content_type="application/json")
    assert unknown.status_code == 400 and "one of pause, resume, cancel" in str(unknown.json()["action"])


def test_the_admin_start_form_checks_the_settings_and_starts_a_campaign(world, admin_client,
                                                                       django_capture_on_commit_callbacks):
    form = {"name": "from the admin", "round_count": 1, "chemsys": "", "seeds": ",".join(world),
            "generators": ["substitution"],
            "candidate_budget": 40, "max_seeds": 50, "threshold_ev_per_atom": 0.05, "evaluation_budget": 2,
            "control_fraction": 1.0, "evaluator": "chgnet", "max_steps": 3, "random_seed": 0, "base": "catalogue-only",
            "training": "campaign", "finetune_epochs": 1, "adopt": "if-better", "dft_limit": 300}
    bad = admin_client.post("/admin/discovery/campaign/add/", {**form, "chemsys": "Co-Li-Qq"})
    assert bad.status_code == 200 and "has unknown element(s): Qq" in bad.content.decode()
    assert not Campaign.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):  # eager tasks: the campaign runs in the commit hook
        response = admin_client.post("/admin/discovery/campaign/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign = Campaign.objects.get()
    assert campaign.name == "from the admin" and campaign.created_by == User.objects.get(is_superuser=True).username
    assert campaign.status == Campaign.Status.SUCCEEDED, campaign.error
    page = admin_client.get(f"/admin/discovery/campaign/{campaign.pk}/change/").content.decode()
    assert "Fine-tune after the round" in page and "not DFT" in page


def test_each_base_names_the_ensemble_its_first_round_screens_with(db, tmp_path):
    from discovery.gnn.__main__ import RELEASED

    config = {"round": {"chemsys": ["Li-O"]}}
    other = ModelCheckpoint.objects.create(name="an admin's fine-tune", path=str(tmp_path), status="succeeded",
                                           active=True)
    released = campaigns.create_campaign({**config, "base": "released"})
    assert released.base_checkpoint.path == str(RELEASED) == released.current_checkpoint.path  # not the active one
    assert campaigns.create_campaign({**config, "base": "active"}).base_checkpoint == other
    only = campaigns.create_campaign({**config, "base": "catalogue-only"}).base_checkpoint
    assert only.path.endswith("catalogue_only") and len(list(Path(only.path).glob("member-*.pt"))) == 4
    # one row per shipped ensemble, however many campaigns use it
    campaigns.create_campaign({**config, "base": "catalogue-only"})
    assert ModelCheckpoint.objects.filter(path=only.path).count() == 1
