"""Real processes for fault tests: private Redis and PostgreSQL servers, Celery workers and an app server.

Every process is started in a session of its own and registered with ``processes``, which kills each whole
process group when the test ends, passed or failed, so that nothing outlives a test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from glob import glob
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from gnome_site.celery import app
from tests.integration.conftest import _forget_connections


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], object], timeout: float, what: str, every: float = 0.5) -> object:
    """The first truthy value of ``check()``; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def database_url_of_tests() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Processes:
    """The processes a test started; ``kill_all`` ends each process group (children included)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], log: Path, env: dict | None = None, **kwargs) -> subprocess.Popen:
        with log.open("ab") as out:
            proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    **kwargs)
        self.started.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Signal the whole group (also when its leader has exited: its children may not have) and reap."""
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)

    def kill_all(self) -> None:
        for proc in reversed(self.started):
            self.kill(proc)


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    try:
        yield procs
    finally:
        procs.kill_all()


# ---- Redis ------------------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of the test's own on a free port; ``persistent`` turns on the append-only file, as
    docker-compose.yml runs it in production."""

    def __init__(self, processes: Processes, directory: Path, *, persistent: bool) -> None:
        self.processes, self.directory, self.persistent = processes, directory, persistent
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", "--appendonly", "yes" if self.persistent else "no", "--appendfsync", "everysec"]
        self.proc = self.processes.start(args, self.directory / "redis.log")
        wait_for(self.ping, 30, f"redis-server on port {self.port}", every=0.1)

    def ping(self) -> bool:
        import redis

        assert self.proc is not None and self.proc.poll() is None, (self.directory / "redis.log").read_text()[-2000:]
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.ConnectionError:
            return False

    def crash(self) -> None:
        """SIGKILL, as an OOM kill or a lost container: whatever is not in the append-only file is gone."""
        assert self.proc is not None
        Processes.kill(self.proc)


@pytest.fixture
def redis_factory(processes, tmp_path) -> Callable[..., PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")

    def make(*, persistent: bool) -> PrivateRedis:
        server = PrivateRedis(processes, tmp_path / "redis", persistent=persistent)
        server.start()
        return server

    return make


# ---- Celery -----------------------------------------------------------------------------------------


@pytest.fixture
def route_tasks() -> Iterator[Callable[[str, int], None]]:
    """``route_tasks(broker_url, visibility_s)`` sends this process's tasks to that broker (results there too);
    the settings are put back when the test ends."""
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager", "broker_transport_options")}

    def route(broker: str, visibility_s: int) -> None:
        app.conf.update(broker_url=broker, result_backend=broker, task_always_eager=False,
                        broker_transport_options={"visibility_timeout": visibility_s})
        _forget_connections()

    yield route
    app.conf.update(saved)
    _forget_connections()


def start_worker(processes: Processes, tmp_path: Path, name: str, broker: str, *, visibility_s: int,
                 concurrency: int = 2) -> subprocess.Popen:
    """A ``celery worker`` (prefork) on ``broker`` and the test database, once it says it is ready."""
    env = {**os.environ, "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker,
           "CELERY_VISIBILITY_TIMEOUT": str(visibility_s), "DATABASE_URL": database_url_of_tests(),
           "GNOME_IMPORT_WORKERS": "1"}
    log = tmp_path / f"{name}.log"
    worker = processes.start(
        [sys.executable, "-m", "celery", "-A", "gnome_site", "worker", "--pool=prefork",
         f"--concurrency={concurrency}", "--loglevel=INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", f"{name}@%h"], log, env=env, cwd=Path(settings.BASE_DIR))
    deadline = time.monotonic() + 120
    while "ready." not in log.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"celery worker {name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return worker


@pytest.fixture
def postgres_only(transactional_db) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the fault tests need PostgreSQL (DATABASE_URL)")


# ---- PostgreSQL -------------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb into a temporary directory, trust auth, a free port).

    The server refuses to run as root, so as root the cluster belongs to the ``postgres`` account.
    """

    def __init__(self, directory: Path) -> None:
        self.bin = postgres_bin()
        assert self.bin is not None
        self.port = free_port()
        self.root = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(directory, "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/gnome"

    def _run(self, *args: str, timeout: float = 120) -> None:
        done = subprocess.run([*self.as_user, *args], timeout=timeout, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        if done.returncode:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            pytest.fail(f"{Path(args[0]).name} {' '.join(args[1:])} failed ({done.returncode}):\n{done.stderr}\n{log}")

    def init(self) -> None:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\n"
                       "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "gnome")

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def stop_quietly(self) -> None:
        """Teardown: immediate shutdown if the server still runs; errors ignored."""
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                            "-t", "30", "stop"], timeout=60, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if postgres_bin() is None:
        pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another account")
    # a directory of its own under /tmp: the postgres account cannot enter pytest's (mode 0700, root's)
    directory = Path(tempfile.mkdtemp(prefix="gnx-pg-"))
    server = PrivatePostgres(directory)
    try:
        server.init()
        yield server
    finally:
        server.stop_quietly()
        shutil.rmtree(directory, ignore_errors=True)
