"""Celery tasks of the hull: thin wrappers over hullapi.services.

Acknowledged late and rejected (so requeued) when their worker dies: a recompute is idempotent, and the one that
picks the task up again takes over the hull lock and the rows of the dead one (services.close_interrupted)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_hull(hull_set: str, chemsys: list[str] | None = None) -> int:
    """Recompute one hull set (all of it, or what entries of ``chemsys`` affect); returns the hull version."""
    return services.recompute(hull_set, chemsys).pk


@shared_task(acks_late=True, reject_on_worker_lost=True)
def recompute_for_materials(material_ids: list[str]) -> list[int]:
    """Incremental recompute after materials arrived; returns the new hull versions."""
    return [run.pk for run in services.recompute_for_materials(material_ids)]


@shared_task(acks_late=True)
def run_screen(screen: str, params: dict | None = None) -> int:
    """Run one screen (li_conductor, layered, li_mn_oxides) with changed criteria; returns the run id."""
    from .screening import run_screen as run

    return run(screen, params).pk
