"""Celery tasks of discovery: thin wrappers over discovery.training."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=False)  # hours long: not re-delivered to another worker if this one dies
def train_gnn(**options) -> int:
    """Train a GNN ensemble on the catalogue; returns the ModelCheckpoint id."""
    from .training import train_ensemble

    return train_ensemble(**options).pk


# ---- discovery rounds: a canvas over the stage functions of discovery.rounds --------------------------
# Every task is idempotent and acknowledged late: a chunk whose worker died is handed to another worker and
# redone without duplicates. ``advance_round`` runs the next stage that is not finished, so it also resumes.


@shared_task(acks_late=True, reject_on_worker_lost=True)
def advance_round(round_id: int) -> str:
    """Run the round's next stages; the two parallel stages fan out as chords that call back here."""
    import time

    from celery import chord, group

    from . import rounds
    from .models import DiscoveryRound

    Stage = DiscoveryRound.Stage
    try:
        rnd = DiscoveryRound.objects.get(pk=round_id)
        if rnd.status in {DiscoveryRound.Status.CANCELLED, DiscoveryRound.Status.SUCCEEDED}:
            return rnd.status
        rounds.generate(round_id)
        fanned = [(Stage.SCREENED, "screen", rounds.screen_chunks, screen_chunk, screening_done,
                   rounds.finish_screening),
                  (Stage.EVALUATED, "evaluate", rounds.evaluate_chunks, evaluate_chunk, evaluation_done,
                   rounds.finish_evaluation)]
        for stage, name, chunks_of, chunk_task, callback, finish in fanned:
            rnd.refresh_from_db()
            if not rounds._done(rnd, stage):
                if chunks := chunks_of(round_id):
                    rounds.note_start(round_id, name, time.time())
                    chord(group(chunk_task.si(round_id, c) for c in chunks))(callback.si(round_id))
                    return name
                finish(round_id)
            if stage == Stage.SCREENED:
                rounds.select(round_id)
        rounds.ingest(round_id)
        rounds.update_hull(round_id)
        rounds.measure(round_id)
        rounds.retrain(round_id)
        return rounds.finish(round_id).status
    except rounds.RoundCancelled:
        return "cancelled"
    except Exception as exc:
        rounds.fail(round_id, f"{type(exc).__name__}: {exc}")
        raise


@shared_task(acks_late=True, reject_on_worker_lost=True)
def screen_chunk(round_id: int, candidate_ids: list[int]) -> int:
    from . import rounds

    return rounds.screen(round_id, candidate_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def screening_done(round_id: int) -> None:
    from . import rounds

    rounds.finish_screening(round_id)
    advance_round.delay(round_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluate_chunk(round_id: int, candidate_ids: list[int]) -> int:
    from . import rounds

    try:
        return rounds.evaluate(round_id, candidate_ids)
    except rounds.RoundCancelled:
        return 0


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluation_done(round_id: int) -> None:
    from . import rounds
    from .models import DiscoveryRound

    if DiscoveryRound.objects.filter(pk=round_id, status=DiscoveryRound.Status.CANCELLED).exists():
        return
    rounds.finish_evaluation(round_id)
    advance_round.delay(round_id)


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
