"""Answers kept in the cache while the data they show is unchanged: built once per data version.

The catalogue changes only through runs: an import (uploads and discovery rounds included), a hull recompute,
a screen run. Every one is a row of its run table, written when it starts and again when it finishes, so the
data version (the latest id and the number of finished rows of each run table, read in one query) moves on
whenever a run starts or finishes. An answer is cached under the version read before it was built: once a run
has started or finished, no request reads that version again, so no earlier answer is ever served again, by any
worker (the cache is Redis in production). An answer built while a run is writing is keyed by the version
the run's start made, which its end replaces.

Users: the REST hull of a system (``hullapi.api``), the mp-api thermo entries of a system (``materials.mp_api``)
and the anonymous read cache (``gnome_site.read_cache``, which reads the version at most once a second).

``materials`` imports no other app: the apps built on it register their run tables here when they load
(``hullapi``: ``HullRun``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Model, Value

__all__ = ["ANSWER_SECONDS", "cached", "data_version", "register_run_table"]

ANSWER_SECONDS = 3600  # an answer is dropped after this even if no run comes
T = TypeVar("T")

_run_tables: list[type[Model]] = []
_statement: tuple[str, tuple] | None = None  # the version query, compiled by the ORM once per process


def register_run_table(model: type[Model]) -> None:
    """Count ``model`` (a table with one row per run, ``finished_at`` set when the run ends) in the version."""
    global _statement
    if model not in _run_tables:
        _run_tables.append(model)
        _run_tables.sort(key=lambda m: m._meta.label)  # the same order, so the same version, in every process
        _statement = None


def _version_statement() -> tuple[str, tuple]:
    global _statement
    if _statement is None:
        if not _run_tables:
            raise RuntimeError("no run table registered (materials.apps registers its own when Django starts)")
        parts = [model.objects.order_by().annotate(table=Value(i)).values("table")
                 .annotate(last=Max("pk"), finished=Count("finished_at")).values_list("table", "last", "finished")
                 for i, model in enumerate(_run_tables)]
        union = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        _statement = union.query.sql_with_params()
    return _statement


def data_version() -> str:
    """``<latest id>.<finished runs>`` of each run table, joined by dashes; changes when any run starts or ends.

    One query (about 0.3 ms): the ORM's statement, compiled at the first call (building it costs more than
    running it)."""
    sql, params = _version_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = sorted(cursor.fetchall())
    return "-".join(f"{last}.{finished}" for _, last, finished in rows)


def cached(kind: str, key: str, build: Callable[[], T], seconds: int = ANSWER_SECONDS) -> T:
    """The value of ``build()`` for (``kind``, ``key``) at the current data version: built at the first call, taken
    from the cache at the next ones until a run starts or finishes. ``build`` must return a picklable value,
    never None, and depend only on the catalogue's data and on ``key``."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    name = f"gnx:answer:{kind}:{data_version()}:{digest}"
    value = cache.get(name)
    if value is None:
        value = build()
        cache.set(name, value, seconds)
    return value
