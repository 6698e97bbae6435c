"""A discovery round in real Celery worker processes (Redis broker, PostgreSQL): it runs start to finish, and a
worker killed mid-evaluation is replaced by a new one that finishes the round with nothing stored twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from discovery import rounds, tasks
from discovery.models import Candidate, DiscoveryRound
from gnome_site.celery import app
from hullapi import services
from hullapi.models import HullSet, Stability
from materials.models import Material, Source

from .conftest import BROKER, _forget_connections

VISIBILITY_S = 8  # a killed worker's task goes to another worker after this long


def _worker(tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path]:
    db = connection.settings_dict
    env = {**os.environ, "CELERY_BROKER_URL": BROKER, "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_S),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"}
    log = tmp_path / f"{name}.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "gnome_site", "worker", "--pool=prefork", "--concurrency=2",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"],
        cwd=Path(settings.BASE_DIR), env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while "ready." not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return worker, log


def _wait(round_id: int, until, timeout: float, what: str) -> DiscoveryRound:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rnd = DiscoveryRound.objects.get(pk=round_id)
        if rnd.status == DiscoveryRound.Status.FAILED:
            pytest.fail(f"round failed: {rnd.error}")
        if until(rnd):
            return rnd
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}: {DiscoveryRound.objects.get(pk=round_id).progress}")


@pytest.fixture
def routed(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("the worker integration tests need PostgreSQL (DATABASE_URL)")
    import redis

    redis.Redis.from_url(BROKER).flushdb()
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager", "broker_transport_options")}
    app.conf.update(broker_url=BROKER, result_backend=BROKER, task_always_eager=False,
                    broker_transport_options={"visibility_timeout": VISIBILITY_S})
    _forget_connections()
    yield
    app.conf.update(saved)
    _forget_connections()


def test_a_round_survives_a_worker_killed_mid_evaluation(routed, tmp_path, system_rows, mp_rows):
    from tests.conftest import load_rows

    mp, gnome = system_rows
    load_rows(tmp_path, mp, gnome, list(mp_rows[0]))
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    rnd = rounds.create_round({"chemsys": ["Co-Li-O"], "candidate_budget": 300, "evaluation_budget": 4,
                               "control_fraction": 0.5, "max_steps": 25, "screen_chunk": 100, "evaluate_chunk": 1})
    first, _ = _worker(tmp_path, "first")
    try:
        tasks.advance_round.delay(rnd.pk)
        # wait until at least one candidate is evaluated and another is under way, then kill the worker outright
        _wait(rnd.pk, lambda r: Candidate.objects.filter(round=r, evaluation="done").exists()
              and r.progress.startswith("evaluating"), 600, "the evaluation to start")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        done_at_kill = Candidate.objects.filter(round=rnd, evaluation="done").count()
        assert done_at_kill < 6, "the kill came too late to test anything"
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    time.sleep(VISIBILITY_S + 1)
    second, log = _worker(tmp_path, "second")
    try:
        rnd = _wait(rnd.pk, lambda r: r.status == DiscoveryRound.Status.SUCCEEDED, 900, "the round to finish")
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=60)
    evaluated = Candidate.objects.filter(round=rnd, evaluation="done")
    assert evaluated.count() == 6 == rnd.counts["evaluated"]  # 4 selected + 2 control, none lost
    assert rnd.counts["generated"] == 300
    discovered = Material.objects.filter(source=Source.DISCOVERY)
    assert discovered.count() == 6 == len(set(discovered.values_list("material_id", flat=True)))  # none twice
    assert set(evaluated.values_list("material__material_id", flat=True)) == set(
        discovered.values_list("material_id", flat=True))
    assert all(m.energy_method.startswith("CHGNet 0.3.0 relax") for m in discovered)
    assert Stability.objects.filter(material__in=discovered, hull_set="all").count() == 6  # the hull was updated
    assert rnd.metrics["evaluated_filtered"] == 4 and rnd.metrics["evaluated_control"] == 2
    assert rnd.metrics["hit_rate"] is not None and "daf" in rnd.metrics
