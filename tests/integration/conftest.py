"""A real Celery worker process on Redis, working on the test database (PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from gnome_site.celery import app

BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """Start ``celery worker`` against Redis and this test's database; route this process's tasks to it."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker integration tests need PostgreSQL (DATABASE_URL)")
    try:
        redis.Redis.from_url(BROKER).flushdb()
    except redis.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {BROKER}: {exc}")
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": BROKER,
        "GNOME_IMPORT_WORKERS": "1",
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "gnome_site", "worker", "--pool=prefork", "--concurrency=2",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=Path(settings.BASE_DIR), env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=BROKER, result_backend=BROKER, task_always_eager=False)
    _forget_connections()
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"celery worker did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield worker
    finally:
        app.conf.update(saved)
        _forget_connections()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _forget_connections() -> None:
    """Drop the app's cached result backend and broker connections (an earlier task in this process
    may have made them with other settings) so that they follow the settings just changed."""
    if hasattr(app._local, "backend"):
        del app._local.backend
    app._pool = None
    app.amqp._producer_pool = None
