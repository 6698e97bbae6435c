"""A two-round campaign driven by real Celery workers on a real slice: the worker is SIGKILLed while it evaluates
the first round, another takes over, and the campaign finishes with nothing stored twice and its second round
screened by the ensemble fine-tuned on the first round's evaluations."""

from __future__ import annotations

import time

from discovery import campaigns
from discovery import tasks as discovery_tasks
from discovery.models import Campaign, Candidate, DiscoveryRound, ModelCheckpoint, TrainingExample
from materials.models import Material, Source
from tests.discovery.test_campaigns import build_world, tiny

from .conftest import Processes, start_worker, wait_for

VISIBILITY_S = 8  # an unacknowledged task goes to another worker after this long


def test_a_campaign_whose_worker_is_killed_mid_round_is_finished_by_another_storing_nothing_twice(
        postgres_only, processes, redis_factory, route_tasks, tmp_path, data_dir, mp_rows):
    seeds = build_world(tmp_path, data_dir, mp_rows)
    broker = redis_factory(persistent=True)
    route_tasks(broker.url, VISIBILITY_S)
    # one candidate per evaluation chunk and 50 FIRE steps, so that the kill lands between chunks with work left
    config = tiny(seeds, adopt="always")  # the rule's verdict on so small a set is noise: the chain is tested
    config["round"] = {**config["round"], "evaluate_chunk": 1, "max_steps": 50}
    campaign = campaigns.create_campaign(config, name="killed", user="test")
    first_worker = start_worker(processes, tmp_path, "first", broker.url, visibility_s=VISIBILITY_S, concurrency=1)
    discovery_tasks.advance_campaign.delay(campaign.pk)

    def evaluating() -> DiscoveryRound | None:
        rnd = DiscoveryRound.objects.filter(campaign=campaign, campaign_index=1).first()
        if rnd is None:
            return None
        assert rnd.status != DiscoveryRound.Status.FAILED, rnd.error
        done = Candidate.objects.filter(round=rnd, evaluation="done").count()
        return rnd if rnd.progress.startswith("evaluating") and done >= 1 else None

    first = wait_for(evaluating, 600, "round 1 to evaluate its first candidate", every=0.2)
    Processes.kill(first_worker)  # SIGKILL to the worker's process group, mid-round
    first.refresh_from_db()
    evaluated_at_kill = Candidate.objects.filter(round=first, evaluation="done").count()
    assert first.status == DiscoveryRound.Status.RUNNING and evaluated_at_kill < first.counts["selected"] + first.counts[
        "control"], "the kill came too late: round 1 had evaluated everything"
    time.sleep(VISIBILITY_S + 1)  # the killed worker's unacknowledged chunk is visible again
    start_worker(processes, tmp_path, "second", broker.url, visibility_s=VISIBILITY_S, concurrency=1)

    def finished() -> Campaign | None:
        c = Campaign.objects.get(pk=campaign.pk)
        assert c.status != Campaign.Status.FAILED, c.error
        return c if c.status == Campaign.Status.SUCCEEDED else None

    campaign = wait_for(finished, 900, "the campaign to finish", every=1)
    first, second = DiscoveryRound.objects.filter(campaign=campaign).order_by("campaign_index")
    assert first.status == second.status == DiscoveryRound.Status.SUCCEEDED
    assert DiscoveryRound.objects.filter(campaign=campaign).count() == 2
    # nothing twice: each chosen candidate evaluated once, one material and one training example per structure
    for rnd in (first, second):
        chosen = Candidate.objects.filter(round=rnd).exclude(arm="")
        assert chosen.filter(evaluation="done").count() == rnd.counts["evaluated"] == chosen.count() - rnd.counts[
            "evaluation_failed"]
        assert TrainingExample.objects.filter(candidate__round=rnd).count() == rnd.counts["training_examples"]
    evaluated = Candidate.objects.filter(round__campaign=campaign, evaluation="done")
    discovered = Material.objects.filter(source=Source.DISCOVERY)
    assert discovered.count() == len(set(evaluated.values_list("material__material_id", flat=True)))
    assert discovered.count() == discovered.values("material_id").distinct().count()
    # one fine-tune after each round that finished (a second started for the same round would show here)
    tuned = ModelCheckpoint.objects.filter(name__contains=f"(campaign {campaign.pk}) after round",
                                           status=ModelCheckpoint.Status.SUCCEEDED)
    assert tuned.count() == 2
    # the fine-tune after round 1 learned from round 1's evaluations, and round 2 screened with what the rule chose
    trained = first.metrics["retrained"]
    from_first = TrainingExample.objects.filter(candidate__round=first, split="train").exclude(e_form_ev_per_atom=None)
    assert trained["candidates_by_round"] == {str(first.pk): from_first.count()} and from_first.count() > 0
    assert trained["activated"] and second.checkpoint_id == trained["checkpoint_id"]
    assert second.checkpoint.training["warm_start"] == campaign.base_checkpoint.path
