"""Celery tasks of discovery: thin wrappers over the service functions (discovery.rounds, training, learning)."""

from __future__ import annotations

from collections.abc import Callable

from celery import shared_task


@shared_task(acks_late=False)  # hours long: not re-delivered to another worker if this one dies
def train_gnn(**options) -> int:
    """Train a GNN ensemble on the catalogue; returns the ModelCheckpoint id."""
    from .training import train_ensemble

    return train_ensemble(**options).pk


# ---- discovery rounds: a canvas over the stage table of discovery.rounds (rounds.STAGES) ----------------
# Every task is idempotent and acknowledged late: a chunk whose worker died is handed to another worker and
# redone without duplicates. ``advance_round`` runs the next stage that is not finished, so it also resumes.


@shared_task(acks_late=True, reject_on_worker_lost=True)
def advance_round(round_id: int) -> str:
    """Run the round's next stages; a chunked stage fans out as a chord that calls back here.

    One advance at a time drives a round (rounds.round_lock); another that finds it taken returns at once,
    since the one holding it decides from the database what is left and carries on. The chunks of a fan-out
    are sent after the lock is let go, so that a chord finishing at once finds it free. A failure to send them
    (the broker down) leaves the round running for the watcher (resume_stalled_rounds) to resume.
    """
    from . import rounds

    with rounds.round_lock(round_id) as mine:
        if not mine:
            return "busy"
        outcome, fan_out = _advance(round_id)
    if fan_out is not None:
        fan_out()
    return outcome


def _advance(round_id: int) -> tuple[str, Callable[[], object] | None]:
    """The stages of ``rounds.STAGES`` up to the next fan-out or the end: what happened, and the fan-out to send,
    if any (one chunk task per chunk, then ``round_chunks_done``)."""
    import time

    from celery import chord, group

    from . import rounds
    from .models import DiscoveryRound

    try:
        rnd = DiscoveryRound.objects.get(pk=round_id)
        if rnd.status in {DiscoveryRound.Status.CANCELLED, DiscoveryRound.Status.SUCCEEDED}:
            return rnd.status, None
        rounds.mark_running(round_id)
        for stage in rounds.STAGES:
            if not stage.fans_out:
                stage.run(round_id)
                continue
            rnd.refresh_from_db()
            if rounds.is_done(rnd, stage.reaches):
                continue
            if chunks := stage.chunks(round_id):
                rounds.note_start(round_id, stage.name, time.time())
                return stage.name, chord(group(round_chunk.si(round_id, stage.name, c) for c in chunks),
                                         round_chunks_done.si(round_id, stage.name))
            stage.finish(round_id)
        rnd = rounds.finish(round_id)
        if rnd.campaign_id is not None:  # the chain of a campaign: its next round, once this one has ended
            return rnd.status, lambda: advance_campaign.delay(rnd.campaign_id)
        return rnd.status, None
    except rounds.RoundCancelled:
        return "cancelled", None
    except Exception as exc:
        rounds.fail(round_id, f"{type(exc).__name__}: {exc}")
        raise


@shared_task(acks_late=True, reject_on_worker_lost=True)
def round_chunk(round_id: int, stage: str, candidate_ids: list[int]) -> int:
    """One chunk of a fanned-out stage (screen, evaluate); a chunk that finds its round cancelled stops there."""
    from . import rounds

    try:
        return rounds.stage_named(stage).run_chunk(round_id, candidate_ids)
    except rounds.RoundCancelled:
        return 0


@shared_task(acks_late=True, reject_on_worker_lost=True)
def round_chunks_done(round_id: int, stage: str) -> None:
    """Every chunk of the stage is done: record the stage and run what comes next (not for a cancelled round)."""
    from . import rounds

    if rounds.is_cancelled(round_id):
        return
    rounds.stage_named(stage).finish(round_id)
    advance_round.delay(round_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def resume_stalled_rounds(stalled_after_s: float | None = None) -> list[int]:
    """Advance again every round stalled for ``stalled_after_s`` (default rounds.STALLED_AFTER_S), and every
    running campaign with no round to move it: Celery beat sends this every few minutes (gnome_site.celery), so
    a round or campaign whose messages the broker lost carries on."""
    from . import campaigns, rounds

    resumed = rounds.resume_stalled(rounds.STALLED_AFTER_S if stalled_after_s is None else stalled_after_s)
    for round_id in resumed:
        advance_round.delay(round_id)
    for campaign_id in campaigns.resume_stalled():
        advance_campaign.delay(campaign_id)
    return resumed


@shared_task(acks_late=True, reject_on_worker_lost=True)
def advance_campaign(campaign_id: int) -> int | None:
    """Start the campaign's next round (``campaigns.step``), or its unfinished round when nothing drives it;
    each round sends this again once it has ended, so the rounds run as a chain. Returns the round started."""
    from . import campaigns
    from .models import DiscoveryRound

    round_id = campaigns.step(campaign_id)
    if round_id is None:
        return None
    if DiscoveryRound.objects.filter(pk=round_id, status=DiscoveryRound.Status.PENDING).exists():
        advance_round.delay(round_id)  # a round under way moves by its own messages (or the watcher's)
    return round_id


# ---- MD studies (discovery.conductivity) --------------------------------------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_md(run_id: int) -> str:
    """One MD run to its end; a killed worker's run is redelivered and resumes from its checkpoint."""
    from . import conductivity

    return conductivity.run(run_id).status


@shared_task
def start_md_study(study_id: int) -> int:
    """Every run of a study, spread over the workers."""
    from celery import group

    from .models import MDRun

    ids = list(MDRun.objects.filter(study_id=study_id).exclude(status="succeeded").values_list("pk", flat=True))
    if ids:
        group(run_md.si(i) for i in ids).apply_async()
    return len(ids)


# ---- training data and fine-tuning (discovery.learning, discovery.training) ----------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluate_training_chunk(batch_id: int, example_ids: list[int]) -> int:
    """Evaluate a chunk of a bootstrap batch's candidates (idempotent: done ones are skipped)."""
    from . import learning

    return learning.evaluate_examples(batch_id, example_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def training_batch_done(batch_id: int) -> dict:
    from . import learning

    return learning.finish_batch(batch_id)


@shared_task(acks_late=False)  # minutes to tens of minutes: not re-delivered if the worker dies
def finetune_gnn(**options) -> int:
    """Fine-tune the active ensemble on DFT + evaluated examples; returns the ModelCheckpoint id."""
    from .training import finetune_ensemble

    return finetune_ensemble(**options).pk


# ---- relaxing an uploaded crystal (discovery.predicting) -------------------------------------------------------


@shared_task(acks_late=True, reject_on_worker_lost=True)
def relax_uploaded(job_id: int) -> str:
    """Relax a staff user's crystal with the default evaluator; the job row holds the outcome."""
    from . import predicting

    return predicting.run_relax_job(job_id).status
