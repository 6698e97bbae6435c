"""A live server (the WSGI application, as gunicorn serves it) over a real slice of the catalogue, shared by
the corpus tests of a module, with a staff user, a non-staff user and HTTP clients for each."""

from __future__ import annotations

from collections import Counter

import pytest
import requests
from django.core.management import call_command

from hullapi import services
from hullapi.models import HullSet

from ..conftest import live_wsgi_server, load_rows

STAFF = ("corpus-staff", "staff-pass-7319")
USER = ("corpus-user", "user-pass-4410")


class Tally:
    """Every input tried and the statuses it got, printed at the end of the session (for benchmarks/RESULTS.md)."""

    def __init__(self) -> None:
        self.statuses: dict[str, Counter] = {}

    def add(self, family: str, status: int) -> None:
        self.statuses.setdefault(family, Counter())[status] += 1

    def report(self) -> str:
        lines = []
        for family, counts in sorted(self.statuses.items()):
            lines.append(f"  {family}: {sum(counts.values())} inputs, statuses "
                         + ", ".join(f"{status} x{n}" for status, n in sorted(counts.items())))
        total = sum(sum(c.values()) for c in self.statuses.values())
        # 501 (a valid filter OPTIMADE cannot answer) and 553 (an OPTIMADE version not served) are the spec's
        errors = sum(n for c in self.statuses.values() for status, n in c.items()
                     if status >= 500 and status not in (501, 553))
        return f"malformed-input corpus: {total} inputs, {errors} server errors\n" + "\n".join(lines)


@pytest.fixture(scope="session")
def tally():
    t = Tally()
    yield t
    if t.statuses:
        print("\n" + t.report())


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker, tmp_path_factory, system_rows, mp_rows):
    """Base URL of a live server on the slice (committed to the test database, flushed afterwards)."""
    from django.contrib.auth.models import User
    from django.test.utils import override_settings

    # a fast hasher: every request of the corpus authenticates with HTTP basic auth
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        mp, gnome = system_rows
        load_rows(tmp_path_factory.mktemp("corpus"), mp, gnome, list(mp_rows[0]))
        services.recompute(HullSet.ALL)
        services.recompute(HullSet.MP)
        User.objects.create_user(STAFF[0], password=STAFF[1], is_staff=True)
        User.objects.create_user(USER[0], password=USER[1])
        try:
            with live_wsgi_server() as url:
                yield url
        finally:
            call_command("flush", interactive=False, verbosity=0)


_calls = 0


def fetch(session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    """One request; the anonymous throttle's counters are cleared every few hundred (its own test checks it)."""
    global _calls
    _calls += 1
    if _calls % 300 == 0:
        from django.core.cache import cache

        cache.clear()
    return session.request(method, url, timeout=60, **kwargs)


def client(auth: tuple[str, str] | None = None) -> requests.Session:
    session = requests.Session()
    session.auth = auth
    return session


@pytest.fixture(scope="module")
def anonymous():
    return client()


@pytest.fixture(scope="module")
def staff():
    return client(STAFF)


@pytest.fixture(scope="module")
def user():
    return client(USER)
