"""Discovery rounds: the GNoME flywheel as idempotent stage functions (Django glue; the science is pure code).

generate -> screen (chunks) -> select -> evaluate (chunks) -> ingest -> hull -> measure -> retrain

``STAGES`` below declares that order once; both drivers read it: ``run_inline`` (``manage.py run_round``, the
tests) runs it in this process, and ``discovery.tasks.advance_round`` runs it on Celery, fanning the chunked
stages out as chords. Adding a stage is one entry here (and its value in ``DiscoveryRound.Stage``).

Each function can run twice without harm: candidates are keyed by (round, structure hash); screening and
evaluation only touch candidates not yet done and write each one in its own transaction; ingestion derives the
material id from the structure hash, so a structure is never stored twice, within a round or across rounds.
``DiscoveryRound.stage`` is the last stage finished; a driver runs what comes next, so a round resumes from
where it stopped.

The modules: ``config`` (the typed settings), ``state`` (the round's record: lock, stage, progress, cancel),
``stages`` (the stage functions), ``metrics`` (what a round found), ``watch`` (resuming stalled rounds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..models import DiscoveryRound
from .config import DEFAULTS, RoundConfig, RoundError, validate_config
from .metrics import measure
from .stages import (
    DISCOVERY_DATASET,
    DISCOVERY_LICENCE,
    evaluate,
    evaluate_chunks,
    finish_evaluation,
    finish_screening,
    generate,
    ingest,
    material_id_of,
    retrain,
    screen,
    screen_chunks,
    screening_mode,
    select,
    update_hull,
)
from .state import (
    ORDER,
    RoundCancelled,
    cancel,
    check_cancel,
    create_round,
    fail,
    finish,
    is_cancelled,
    is_done,
    mark_running,
    note_start,
    round_driven,
    round_lock,
    set_progress,
)
from .watch import MAX_RESUMES, STALLED_AFTER_S, activity, resume_stalled

__all__ = [
    "DEFAULTS", "DISCOVERY_DATASET", "DISCOVERY_LICENCE", "MAX_RESUMES", "ORDER", "STAGES", "STALLED_AFTER_S",
    "Progress", "RoundCancelled", "RoundConfig", "RoundError", "RoundStage", "activity", "cancel", "create_round",
    "evaluate", "evaluate_chunks", "fail", "finish", "finish_evaluation", "finish_screening", "generate", "ingest",
    "is_cancelled", "is_done", "mark_running", "material_id_of", "measure", "note_start", "resume_stalled", "retrain",
    "round_driven", "round_lock", "run_inline", "screen", "screen_chunks", "screening_mode", "select", "stage_named",
    "update_hull", "validate_config",
]

Stage = DiscoveryRound.Stage


@dataclass(frozen=True)
class RoundStage:
    """One stage of a round as both drivers run it.

    A stage runs in one go (``run``: the function returns at once when the round has finished it), or fans
    out (``chunks`` lists the candidate ids still to do, in chunks any worker may take; ``run_chunk`` does one
    chunk and skips what is done; ``finish`` records the stage once every chunk is done, given its wall time in
    seconds, or None to work it out from ``note_start``).
    """

    name: str  # what progress bars, the progress line and the Celery chunk tasks call it
    reaches: str  # the DiscoveryRound.Stage recorded once it has finished
    run: Callable[..., object] | None = None
    chunks: Callable[[int], list[list[int]]] | None = None
    run_chunk: Callable[[int, list[int]], int] | None = None
    finish: Callable[..., None] | None = None
    doing: str = ""  # the progress line's word while its chunks run ("screening")
    counted: bool = False  # ``run`` takes ``progress(done, total)`` in candidates
    unit: str = ""  # what its progress counts ("cand"); "" for a stage that is one step

    @property
    def fans_out(self) -> bool:
        return self.chunks is not None


STAGES: tuple[RoundStage, ...] = (
    RoundStage("generate", Stage.GENERATED, run=generate, counted=True, unit="cand"),
    RoundStage("screen", Stage.SCREENED, chunks=screen_chunks, run_chunk=screen, finish=finish_screening,
               doing="screening", unit="cand"),
    RoundStage("select", Stage.SELECTED, run=select),
    RoundStage("evaluate", Stage.EVALUATED, chunks=evaluate_chunks, run_chunk=evaluate, finish=finish_evaluation,
               doing="evaluating", unit="cand"),
    RoundStage("ingest", Stage.INGESTED, run=ingest),
    RoundStage("hull", Stage.HULL, run=update_hull),
    RoundStage("measure", Stage.MEASURED, run=measure),
    RoundStage("retrain", Stage.RETRAINED, run=retrain),
)


def stage_named(name: str) -> RoundStage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise RoundError(f"no round stage {name!r}: one of {', '.join(s.name for s in STAGES)}")


Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: the first call for a stage opens it, the later ones count its work done in
this run, in the stage's ``unit`` (one step when it has none); a total of 0 means nothing was left to do."""


def run_inline(round_id: int, progress: Progress | None = None) -> DiscoveryRound:
    """The whole round in this process, resuming from its last finished stage (``manage.py run_round``)."""
    with round_lock(round_id) as mine:
        if not mine:
            raise RoundError(f"round {round_id} is being run by another process")
        return _run_inline(round_id, progress or (lambda stage, done, total: None))


def _run_inline(round_id: int, tell: Progress) -> DiscoveryRound:
    mark_running(round_id)
    try:
        for stage in STAGES:
            rnd = DiscoveryRound.objects.get(pk=round_id)
            if stage.fans_out:
                _run_chunks(round_id, stage, rnd, tell)
            elif stage.counted:
                if is_done(rnd, stage.reaches):
                    tell(stage.name, 0, 0)
                stage.run(round_id, progress=lambda done, total, name=stage.name: tell(name, done, total))
            else:
                tell(stage.name, 0, 1)
                stage.run(round_id)
                tell(stage.name, 1, 1)
        return finish(round_id)
    except RoundCancelled:
        return DiscoveryRound.objects.get(pk=round_id)
    except Exception as exc:
        fail(round_id, f"{type(exc).__name__}: {exc}")
        raise


def _run_chunks(round_id: int, stage: RoundStage, rnd: DiscoveryRound, tell: Progress) -> None:
    if is_done(rnd, stage.reaches):
        tell(stage.name, 0, 0)
        return
    started = time.perf_counter()
    chunks = stage.chunks(round_id)
    total, done = sum(len(chunk) for chunk in chunks), 0
    tell(stage.name, 0, total)
    for i, chunk in enumerate(chunks):
        check_cancel(round_id)
        stage.run_chunk(round_id, chunk)
        set_progress(round_id, f"{stage.doing}: chunk {i + 1}/{len(chunks)}")
        done += len(chunk)
        tell(stage.name, done, total)
    stage.finish(round_id, time.perf_counter() - started)
