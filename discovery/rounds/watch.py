"""Stalled rounds.

A round moves by Celery messages: chunks queued, a chord's count of finished chunks, the callback that calls
the next stage. A broker that loses them (Redis restarted without its append-only file, flushed, failed
over) leaves the round "running" with nothing left to move it. The watcher (discovery.tasks.resume_stalled_
rounds, on Celery beat; or manage.py resume_rounds) notices that nothing about a round has changed for a
while and runs ``advance_round`` again, which carries on from the database: it re-sends the chunks not yet
done, or finishes the stage whose callback was lost. Resuming a round that was only slow costs duplicated
work (a chunk evaluated twice keeps its first result), never a wrong or doubled result.
"""

from __future__ import annotations

import time

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..models import Candidate, DiscoveryRound
from .state import round_driven

__all__ = ["MAX_RESUMES", "STALLED_AFTER_S", "activity", "resume_stalled"]

STALLED_AFTER_S = 3600  # quiet this long (no stage, progress or candidate changed), a running round is stalled
MAX_RESUMES = 3  # resumes in a row that changed nothing, after which the round is failed for a person to see


def activity(rnd: DiscoveryRound) -> str:
    """What changes whenever a round makes progress: its stage and progress line, and its candidates
    stored, screened, evaluated and ingested."""
    n = Candidate.objects.filter(round_id=rnd.pk).aggregate(
        stored=Count("pk"), screened=Count("pk", filter=Q(screened=True)),
        evaluated=Count("pk", filter=~Q(evaluation="")), ingested=Count("material"))
    return f"{rnd.stage}|{rnd.progress}|{n['stored']}|{n['screened']}|{n['evaluated']}|{n['ingested']}"


def resume_stalled(stalled_after_s: float = STALLED_AFTER_S, *, max_resumes: int = MAX_RESUMES,
                   now: float | None = None) -> list[int]:
    """The pending or running rounds to advance again: those no process drives (``round_driven``) whose
    ``activity`` has not changed for ``stalled_after_s`` seconds since the watcher first saw it so; with 0,
    every undriven one at once (an admin's decision after an incident). A round resumed ``max_resumes`` times in
    a row without any change is failed instead, saying why. Each call records what it saw in the round's
    ``timings["_watch"]``; the caller sends ``advance_round`` for the ids returned."""
    now = time.time() if now is None else now
    force = stalled_after_s <= 0
    waiting = [DiscoveryRound.Status.PENDING, DiscoveryRound.Status.RUNNING]
    resumed = []
    for round_id in DiscoveryRound.objects.filter(status__in=waiting, cancel_requested=False).order_by(
            "pk").values_list("pk", flat=True):
        with transaction.atomic():
            rnd = DiscoveryRound.objects.select_for_update().filter(pk=round_id, status__in=waiting).first()
            if rnd is None:
                continue
            seen = activity(rnd)
            watch = rnd.timings.get("_watch") or {}
            driven = round_driven(round_id)  # a long stage that changes nothing (a retraining) is alive too
            if driven or watch.get("seen") != seen:
                watch = {"seen": seen, "since": now, "resumes": 0}
            quiet = now - watch["since"]
            if not driven and (force or (quiet >= stalled_after_s and watch["resumes"] < max_resumes)):
                watch = {"seen": seen, "since": now, "resumes": watch["resumes"] + 1}
                rnd.timings = {**rnd.timings, "_resumed": rnd.timings.get("_resumed", 0) + 1}
                resumed.append(round_id)
            elif not driven and quiet >= stalled_after_s:
                rnd.status, rnd.finished_at = DiscoveryRound.Status.FAILED, timezone.now()
                rnd.error = (f"stalled: {watch['resumes']} resumes changed nothing, the last {quiet:.0f} s ago "
                             f"(after stage {rnd.stage!r}: {rnd.progress!r}); resume it once the cause is fixed")
                watch = {}  # a person's resume starts the watch afresh
            rnd.timings = {**rnd.timings, "_watch": watch}
            rnd.save(update_fields=["timings", "status", "error", "finished_at"])
    return resumed
