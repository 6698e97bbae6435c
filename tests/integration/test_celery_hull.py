"""Hull recomputes in real Celery workers (Redis broker, PostgreSQL): incremental, and safe when concurrent."""

from __future__ import annotations

import pytest

from hullapi import services, tasks
from hullapi.models import HullRun, HullSet, Stability

from ..hullapi.test_services import add_discovery


def state(hull_set: str) -> list[tuple]:
    return [
        (m, round(e, 9) if e is not None else None, s)
        for m, e, s in Stability.objects.filter(hull_set=hull_set)
        .order_by("material__material_id")
        .values_list("material__material_id", "e_above_hull_ev_per_atom", "is_stable")
    ]


def test_a_new_phase_below_a_ternary_hull_is_recomputed_by_workers(celery_worker_process, catalogue):
    first = services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    target = services.query_stability(HullSet.ALL, "LiMn2O4", energy_ev_per_atom=0)
    new = add_discovery("LiMn2O4", target.e_form_ev_per_atom - target.e_above_hull_ev_per_atom - 0.04)
    stable_before = set(Stability.objects.filter(hull_set=HullSet.ALL, is_stable=True)
                        .values_list("material__material_id", flat=True))

    # Two workers take the same incremental recompute at once; the lock makes them run one after the other.
    results = [tasks.recompute_for_materials.delay([new.material_id]) for _ in range(2)]
    versions = [r.get(timeout=300) for r in results]
    runs = HullRun.objects.filter(pk__in=[v for pair in versions for v in pair]).order_by("pk")
    assert [r.status for r in runs] == [HullRun.Status.SUCCEEDED] * 4
    assert all(r.scope == ["Li-Mn-O"] for r in runs)
    all_runs = sorted((r for r in runs if r.hull_set == HullSet.ALL), key=lambda r: r.pk)
    assert all_runs[1].started_at >= all_runs[0].finished_at

    recomputed = set(Stability.objects.filter(hull_set=HullSet.ALL).exclude(hull_run=first)
                     .values_list("material__chemsys", flat=True))
    assert recomputed == {"Li-Mn-O", "Li-Mn-O-P"}  # the system and its superset, nothing else
    stable_after = set(Stability.objects.filter(hull_set=HullSet.ALL, is_stable=True)
                       .values_list("material__material_id", flat=True))
    assert new.material_id in stable_after
    assert stable_before - stable_after, "the new phase must push a neighbour off the hull"

    incremental = state(HullSet.ALL)
    services.recompute(HullSet.ALL)
    assert state(HullSet.ALL) == incremental  # same as a full recompute


def test_a_full_recompute_task_runs_in_a_worker(celery_worker_process, catalogue):
    version = tasks.recompute_hull.delay(HullSet.MP).get(timeout=300)
    run = HullRun.objects.get(pk=version)
    assert run.status == HullRun.Status.SUCCEEDED and run.scope == []
    assert Stability.objects.filter(hull_set=HullSet.MP, hull_run=run).count() == run.entries > 0


def test_an_unknown_hull_set_fails_the_task_by_name(celery_worker_process):
    with pytest.raises(ValueError, match="unknown hull set 'oqmd'"):
        tasks.recompute_hull.delay("oqmd").get(timeout=60)
