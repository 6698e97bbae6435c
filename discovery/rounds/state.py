"""A round's record as its stages move it: creation, who drives it (an advisory lock), the stage reached and
its timings, the progress line, cancelling, failing and finishing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection, transaction
from django.utils import timezone

from ..models import DiscoveryRound
from .config import validate_config

__all__ = ["ORDER", "RoundCancelled", "cancel", "check_cancel", "create_round", "fail", "finish", "is_cancelled",
           "is_done", "mark", "mark_running", "note_start", "round_driven", "round_lock", "set_progress"]

Stage = DiscoveryRound.Stage
ORDER = list(Stage)  # the stages in the order a round goes through them
ROUND_LOCK_NAMESPACE = 0x676E78  # "gnx": the first key of the two-key advisory locks of rounds


class RoundCancelled(RuntimeError):
    pass


def create_round(config: dict, *, name: str = "", user: str = "") -> DiscoveryRound:
    """A round that screens with the active ensemble (an admin's choice), or the released one if none is."""
    from ..training import active_checkpoint

    return DiscoveryRound.objects.create(name=name or "round", config=validate_config(config), created_by=user,
                                         checkpoint=active_checkpoint("structure"))


@contextlib.contextmanager
def round_lock(round_id: int) -> Iterator[bool]:
    """Whether this process may drive the round now (run its stages, fan out its chunks): one driver at a time,
    so that a round resumed while it was in fact moving, or advanced twice, never runs a stage twice at once
    (two ingests would race to store the same materials). PostgreSQL: a session-level advisory lock, tried
    without waiting and released with the connection, so a killed worker never leaves it held. Elsewhere (the
    embedded SQLite default, tasks run eagerly in one process): always true."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ROUND_LOCK_NAMESPACE, round_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ROUND_LOCK_NAMESPACE, round_id])


def round_driven(round_id: int) -> bool:
    """Whether some process holds the round's lock now (a stage running in a worker, or ``run_round``); only
    looks (pg_locks), so that it never makes a driver find the lock taken. False off PostgreSQL."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s "
                       "AND objid = %s AND objsubid = 2 AND database = "
                       "(SELECT oid FROM pg_database WHERE datname = current_database()))",
                       [ROUND_LOCK_NAMESPACE, round_id])
        return cursor.fetchone()[0]


def is_done(rnd: DiscoveryRound, stage: str) -> bool:
    """Whether the round has finished ``stage`` (a ``DiscoveryRound.Stage``) already."""
    return ORDER.index(rnd.stage) >= ORDER.index(stage)


def mark(round_id: int, stage: str, seconds: float, **fields) -> DiscoveryRound:
    """Record ``stage`` as finished (never moving the round back), its wall time, and the given fields; ``counts``
    are merged into the round's counts."""
    with transaction.atomic():
        rnd = DiscoveryRound.objects.select_for_update().get(pk=round_id)
        if ORDER.index(stage) > ORDER.index(rnd.stage):
            rnd.stage = stage
        rnd.timings = {**rnd.timings, stage: round(seconds, 3)}
        for key, value in fields.items():
            if key == "counts":
                rnd.counts = {**rnd.counts, **value}
            else:
                setattr(rnd, key, value)
        rnd.save()
    return rnd


def note_start(round_id: int, stage: str, at: float) -> None:
    """When a fanned-out stage began (epoch seconds), so that its callback can record the stage's wall time."""
    with transaction.atomic():
        rnd = DiscoveryRound.objects.select_for_update().get(pk=round_id)
        rnd.timings = {**rnd.timings, f"_{stage}_started": at}
        rnd.save(update_fields=["timings"])


def mark_running(round_id: int) -> None:
    """A pending round (new, or a failed one resumed) is running from the moment a driver takes it up."""
    DiscoveryRound.objects.filter(pk=round_id, status=DiscoveryRound.Status.PENDING).update(
        status=DiscoveryRound.Status.RUNNING)
    DiscoveryRound.objects.filter(pk=round_id, started_at=None).update(started_at=timezone.now())


def set_progress(round_id: int, text: str) -> None:
    DiscoveryRound.objects.filter(pk=round_id).update(progress=text[:200])


def check_cancel(round_id: int) -> None:
    """Raise RoundCancelled (the round marked so) when someone asked the round to stop."""
    if DiscoveryRound.objects.filter(pk=round_id, cancel_requested=True).exists():
        DiscoveryRound.objects.filter(pk=round_id).update(status=DiscoveryRound.Status.CANCELLED,
                                                          finished_at=timezone.now(), progress="cancelled")
        raise RoundCancelled(f"round {round_id} was cancelled")


def is_cancelled(round_id: int) -> bool:
    return DiscoveryRound.objects.filter(pk=round_id, status=DiscoveryRound.Status.CANCELLED).exists()


def finish(round_id: int) -> DiscoveryRound:
    DiscoveryRound.objects.filter(pk=round_id).update(status=DiscoveryRound.Status.SUCCEEDED,
                                                      finished_at=timezone.now(), progress="done")
    return DiscoveryRound.objects.get(pk=round_id)


def cancel(round_id: int) -> bool:
    """Ask a round to stop: chunks still queued skip their work, the next stage does not start. False when the
    round had already ended."""
    ended = {DiscoveryRound.Status.SUCCEEDED, DiscoveryRound.Status.FAILED, DiscoveryRound.Status.CANCELLED}
    updated = DiscoveryRound.objects.filter(pk=round_id).exclude(status__in=ended).update(
        cancel_requested=True, status=DiscoveryRound.Status.CANCELLED, finished_at=timezone.now(), progress="cancelled")
    return bool(updated)


def fail(round_id: int, error: str) -> None:
    DiscoveryRound.objects.filter(pk=round_id).exclude(status=DiscoveryRound.Status.CANCELLED).update(
        status=DiscoveryRound.Status.FAILED, error=error[:5000], finished_at=timezone.now())
