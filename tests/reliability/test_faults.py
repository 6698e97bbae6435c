"""Faults with real components: a Celery worker SIGKILLed mid-recompute, Redis crashing mid-round, PostgreSQL
restarted under a serving app, and two full hull recomputes at once. Each test starts its own servers and
processes (conftest) and ends every one of them, whatever the outcome."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

from discovery import rounds
from discovery import tasks as discovery_tasks
from discovery.models import Candidate, DiscoveryRound
from hullapi import services
from hullapi import tasks as hull_tasks
from hullapi.models import HullRun, HullSet, Stability
from materials import scale_load
from materials.models import Material, Source
from tests.conftest import load_rows, read_sample_rows, write_csv

from .conftest import Processes, free_port, start_worker, wait_for

HULL_VISIBILITY_S = 10  # longer than a recompute of the test catalogue, so a live one is not handed out twice


def hull_state(hull_set: str) -> list[tuple]:
    """Every stored stability of ``hull_set``, in material order, as it can be compared with another run's."""
    return [
        (m, None if e is None else round(e, 9), s, None if f is None else round(f, 9))
        for m, e, s, f in Stability.objects.filter(hull_set=hull_set).order_by("material__material_id")
        .values_list("material__material_id", "e_above_hull_ev_per_atom", "is_stable", "e_form_ev_per_atom")
    ]


def assert_one_row_per_material(hull_set: str) -> None:
    rows = Stability.objects.filter(hull_set=hull_set)
    materials = Material.objects.count()
    assert rows.count() == materials, "a material has no stability row, or one has two"
    assert rows.values("material").distinct().count() == materials


@pytest.fixture
def large_catalogue(postgres_only, tmp_path, system_rows, mp_rows, data_dir) -> int:
    """The small real catalogue, 300 more GNoME crystals and 12,000 synthetic substitutions of them: a full
    recompute of "all" takes seconds, long enough to be interrupted part-way. Returns the number of materials."""
    mp, gnome = system_rows
    load_rows(tmp_path, mp, gnome + read_sample_rows(data_dir, 300, start=1000), list(mp_rows[0]))
    scale_load.load(12000, seed=0, workers=1)
    return Material.objects.count()


# ---- (a) a worker killed during a full recompute ---------------------------------------------------------


def test_a_full_recompute_whose_worker_is_killed_is_redone_by_another_as_a_serial_one_would(
        large_catalogue, processes, redis_factory, route_tasks, tmp_path):
    broker = redis_factory(persistent=True)
    route_tasks(broker.url, HULL_VISIBILITY_S)
    first = start_worker(processes, tmp_path, "first", broker.url, visibility_s=HULL_VISIBILITY_S, concurrency=1)
    result = hull_tasks.recompute_hull.delay(HullSet.ALL)

    def partly_written() -> HullRun | None:
        run = HullRun.objects.filter(hull_set=HullSet.ALL).first()
        if run and run.status == HullRun.Status.RUNNING and Stability.objects.filter(hull_run=run).exists():
            return run
        return None

    killed = wait_for(partly_written, 300, "the recompute to write its first rows", every=0.05)
    Processes.kill(first)  # SIGKILL to the worker's process group: parent and the child running the task
    killed.refresh_from_db()
    written_by_killed = Stability.objects.filter(hull_run=killed).count()
    assert killed.status == HullRun.Status.RUNNING, "the kill came too late: the recompute had finished"
    assert 0 < written_by_killed < large_catalogue

    # kombu hands an unacknowledged task to another worker once the visibility timeout has passed, at that
    # worker's next scan for them (at its start, then only every ~100 s)
    time.sleep(HULL_VISIBILITY_S + 1)
    start_worker(processes, tmp_path, "second", broker.url, visibility_s=HULL_VISIBILITY_S, concurrency=1)
    redone = HullRun.objects.get(pk=result.get(timeout=300))
    killed.refresh_from_db()
    assert redone.status == HullRun.Status.SUCCEEDED and redone.pk > killed.pk
    assert killed.status == HullRun.Status.FAILED and killed.error == services.INTERRUPTED
    assert not HullRun.objects.filter(status=HullRun.Status.RUNNING).exists()
    assert redone.entries == large_catalogue
    assert_one_row_per_material(HullSet.ALL)
    assert not Stability.objects.filter(hull_set=HullSet.ALL).exclude(hull_run=redone).exists()

    after_fault = hull_state(HullSet.ALL)
    serial = services.recompute(HullSet.ALL, workers=1)
    assert hull_state(HullSet.ALL) == after_fault
    assert serial.stable == redone.stable and serial.not_placed == redone.not_placed


# ---- (d) two full recomputes at once -----------------------------------------------------------------------


def waiting_for_the_lock_of(hull_set: str) -> bool:
    """Whether a session of this database waits for ``hull_set``'s lock (services.hull_lock: one bigint key,
    which pg_locks shows as classid = high and objid = low 32 bits)."""
    key = zlib.crc32(f"gnome-hull-{hull_set}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 0 "
                       "AND objid = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                       [key])
        return cursor.fetchone()[0] > 0


def test_full_recomputes_at_once_in_workers_queue_behind_each_other_and_equal_serial_ones(
        large_catalogue, processes, redis_factory, route_tasks, tmp_path):
    broker = redis_factory(persistent=True)
    route_tasks(broker.url, HULL_VISIBILITY_S)
    start_worker(processes, tmp_path, "busy", broker.url, visibility_s=HULL_VISIBILITY_S, concurrency=3)
    results = [hull_tasks.recompute_hull.delay(hull_set) for hull_set in (HullSet.ALL, HullSet.ALL, HullSet.MP)]
    wait_for(lambda: waiting_for_the_lock_of(HullSet.ALL), 300, "one recompute to wait for the other's lock",
             every=0.1)
    runs = [HullRun.objects.get(pk=r.get(timeout=300)) for r in results]
    assert [r.status for r in runs] == [HullRun.Status.SUCCEEDED] * 3
    first, second = sorted(runs[:2], key=lambda r: r.started_at)
    assert second.started_at >= first.finished_at, "two recomputes of one hull set overlapped"
    for hull_set, last in ((HullSet.ALL, second), (HullSet.MP, runs[2])):
        assert_one_row_per_material(hull_set)
        assert not Stability.objects.filter(hull_set=hull_set).exclude(hull_run=last).exists()
    concurrent = {hull_set: hull_state(hull_set) for hull_set in (HullSet.ALL, HullSet.MP)}
    for hull_set in (HullSet.ALL, HullSet.MP):
        services.recompute(hull_set, workers=1)
        assert hull_state(hull_set) == concurrent[hull_set]


# ---- (b) Redis crashing mid-round --------------------------------------------------------------------------

ROUND_VISIBILITY_S = 8
STALLED_AFTER_S = 25  # the watcher's patience in this test (production: an hour)


def test_a_round_whose_broker_lost_everything_mid_evaluation_is_resumed_by_the_watcher_and_finishes(
        postgres_only, processes, redis_factory, route_tasks, tmp_path, system_rows, mp_rows):
    mp, gnome = system_rows
    load_rows(tmp_path, mp, gnome, list(mp_rows[0]))
    services.recompute(HullSet.ALL)
    services.recompute(HullSet.MP)
    # no append-only file: the crash loses the queued chunks, the unacknowledged ones and the chord's count
    broker = redis_factory(persistent=False)
    route_tasks(broker.url, ROUND_VISIBILITY_S)
    rnd = rounds.create_round({"chemsys": ["Co-Li-O"], "candidate_budget": 100, "evaluation_budget": 4,
                               "control_fraction": 0.5, "max_steps": 5, "screen_chunk": 50, "evaluate_chunk": 1})
    start_worker(processes, tmp_path, "worker", broker.url, visibility_s=ROUND_VISIBILITY_S)
    beat_env = {**os.environ, "CELERY_BROKER_URL": broker.url, "GNOME_RESUME_ROUNDS_EVERY": "2",
                "GNOME_ROUND_STALLED_AFTER": str(STALLED_AFTER_S)}
    processes.start([sys.executable, "-m", "celery", "-A", "gnome_site", "beat", "--loglevel=INFO",
                     "--schedule", str(tmp_path / "beat-schedule")], tmp_path / "beat.log", env=beat_env,
                    cwd=Path(settings.BASE_DIR))
    discovery_tasks.advance_round.delay(rnd.pk)

    def evaluating() -> bool:
        r = DiscoveryRound.objects.get(pk=rnd.pk)
        assert r.status != DiscoveryRound.Status.FAILED, r.error
        return r.progress.startswith("evaluating") and Candidate.objects.filter(round=r, evaluation="done").exists()

    wait_for(evaluating, 600, "the evaluation to start")
    broker.crash()
    done_at_crash = Candidate.objects.filter(round=rnd, evaluation="done").count()
    assert done_at_crash < 6, "the crash came too late to test anything"
    time.sleep(2)
    broker.start()

    def finished() -> DiscoveryRound | None:
        r = DiscoveryRound.objects.get(pk=rnd.pk)
        assert r.status != DiscoveryRound.Status.FAILED, r.error
        return r if r.status == DiscoveryRound.Status.SUCCEEDED else None

    rnd = wait_for(finished, 300, "the round to finish", every=1)
    assert rnd.timings.get("_resumed", 0) >= 1  # it stalled, and the watcher moved it on
    evaluated = Candidate.objects.filter(round=rnd, evaluation="done")
    assert evaluated.count() == 6 == rnd.counts["evaluated"]  # 4 selected + 2 control, none lost
    assert rnd.counts["generated"] == 100
    discovered = Material.objects.filter(source=Source.DISCOVERY)
    assert discovered.count() == 6 == len(set(discovered.values_list("material_id", flat=True)))  # none twice
    assert set(evaluated.values_list("material__material_id", flat=True)) == set(
        discovered.values_list("material_id", flat=True))
    assert Stability.objects.filter(material__in=discovered, hull_set=HullSet.ALL).count() == 6
    assert rnd.metrics["evaluated_filtered"] == 4 and rnd.metrics["evaluated_control"] == 2


def make_round(**fields) -> DiscoveryRound:
    config = rounds.validate_config({"chemsys": ["Co-Li-O"]})
    return DiscoveryRound.objects.create(config=config, **{"status": DiscoveryRound.Status.RUNNING, **fields})


def test_the_watcher_resumes_only_rounds_quiet_long_enough_and_fails_one_that_never_moves(postgres_only):
    quiet = make_round(progress="evaluating Li2O (7)")
    moving = make_round(progress="evaluating LiCoO2 (1)")
    make_round(status=DiscoveryRound.Status.SUCCEEDED)
    make_round(status=DiscoveryRound.Status.RUNNING, cancel_requested=True)

    assert rounds.resume_stalled(60, now=1000) == []  # first look: nothing is known to be quiet yet
    DiscoveryRound.objects.filter(pk=moving.pk).update(progress="evaluating LiCoO2 (2)")
    assert rounds.resume_stalled(60, now=1059) == []
    assert rounds.resume_stalled(60, now=1061) == [quiet.pk]
    DiscoveryRound.objects.filter(pk=moving.pk).update(progress="evaluating LiCoO2 (3)")
    assert rounds.resume_stalled(60, now=1100) == []  # the resume restarts the watch
    assert rounds.resume_stalled(60, now=1122) == [quiet.pk]
    assert rounds.resume_stalled(60, now=1183) == [quiet.pk, moving.pk]
    assert rounds.resume_stalled(60, now=1244) == [moving.pk]
    quiet.refresh_from_db()
    assert quiet.status == DiscoveryRound.Status.FAILED and quiet.timings["_resumed"] == rounds.MAX_RESUMES
    assert quiet.error.startswith("stalled: 3 resumes changed nothing, the last 61 s ago")

    assert rounds.resume_stalled(0, now=1245) == [moving.pk]  # an admin's "now"


def test_a_second_driver_of_a_round_steps_aside_while_the_first_holds_it(postgres_only):
    rnd = make_round()
    held, release = threading.Event(), threading.Event()

    def first_driver() -> None:
        try:
            with rounds.round_lock(rnd.pk) as mine:
                assert mine
                held.set()
                release.wait(60)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_driver)
    thread.start()
    try:
        assert held.wait(60)
        assert discovery_tasks.advance_round.run(rnd.pk) == "busy"
        with pytest.raises(rounds.RoundError, match="being run by another process"):
            rounds.run_inline(rnd.pk)
        # however quiet, a driven round is alive (a retraining changes nothing for hours)
        assert rounds.round_driven(rnd.pk)
        assert rounds.resume_stalled(60, now=1000) == rounds.resume_stalled(60, now=2000) == []
        assert rounds.resume_stalled(0, now=2001) == []
    finally:
        release.set()
        thread.join(60)
    rnd.refresh_from_db()
    assert rnd.stage == DiscoveryRound.Stage.CREATED and rnd.status == DiscoveryRound.Status.RUNNING
    assert not rounds.round_driven(rnd.pk)
    with rounds.round_lock(rnd.pk) as mine:
        assert mine and rounds.round_driven(rnd.pk)
    assert rounds.resume_stalled(60, now=2100) == [rnd.pk]


# ---- (c) PostgreSQL restarted under a serving app ----------------------------------------------------------


def get(url: str) -> tuple[int, dict, dict]:
    """Status, headers and JSON body; the 30 s timeout turns a hanging request into a failure."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, dict(exc.headers), json.loads(body)
        except ValueError:
            return exc.code, dict(exc.headers), {"not json": body[:300].decode(errors="replace")}


def test_requests_while_postgres_is_down_get_a_json_503_and_succeed_again_once_it_is_back(
        private_postgres, processes, tmp_path, system_rows, mp_rows):
    mp, _ = system_rows
    env = {**os.environ, "DATABASE_URL": private_postgres.url, "DEBUG": "False", "SECRET_KEY": "fault-test-only",
           "ALLOWED_HOSTS": "127.0.0.1", "SECURE_SSL_REDIRECT": "False", "GNOME_IMPORT_WORKERS": "1",
           # every request must reach the database here: the read cache could answer one it saw a second ago
           "GNOME_API_CACHE_SECONDS": "0"}
    for var in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL"):
        env.pop(var, None)
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    for command in (["migrate", "--noinput"],
                    ["import_mp_hull", str(write_csv(tmp_path / "mp.csv", mp, list(mp_rows[0])))]):
        subprocess.run([*manage, *command, "--verbosity", "0"], env=env, check=True, timeout=300,
                       cwd=settings.BASE_DIR, stdout=subprocess.DEVNULL)
    port = free_port()
    app_server = processes.start(
        [sys.executable, "-m", "gunicorn", "gnome_site.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--timeout", "60"], tmp_path / "gunicorn.log", env=env, cwd=settings.BASE_DIR)
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        assert app_server.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
        try:
            return get(f"{base}/healthz")[0] == 200
        except OSError:
            return False

    wait_for(serving, 120, "gunicorn to serve")
    material_id = mp[0]["MaterialId"]
    urls = ["/healthz", "/api/v1/materials/?chemsys=Cl-Na", f"/api/v1/materials/{material_id}/",
            "/optimade/v1/structures?page_limit=2"]
    before = {}
    for url in urls:
        status, _, before[url] = get(base + url)
        assert status == 200, (url, before[url])
    assert before[urls[1]]["data"], "the catalogue is empty"

    private_postgres.stop()
    for url in [*urls, "/api/v1/materials/?elements=Li,O"]:
        status, headers, body = get(base + url)
        assert status == 503, (url, status, body)
        assert headers["Content-Type"] == "application/json" and headers["Retry-After"] == "5", (url, headers)
        assert body["errors"][0]["status"] == "503" and "database" in body["detail"], (url, body)

    private_postgres.start()
    for url in urls:  # the same process, on a new connection
        status, _, body = get(base + url)
        assert status == 200, (url, body)
        if url.startswith("/api/"):
            assert body["data"] == before[url]["data"]
    # a restart between two requests: the first after it finds its persistent connection dead and replaces it
    private_postgres.stop()
    private_postgres.start()
    assert get(base + urls[1])[0] == 200
    assert app_server.poll() is None
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
