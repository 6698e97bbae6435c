"""How many materials a search matches: exact where that is cheap, PostgreSQL's estimate (marked) otherwise.

Shared by every paged answer of the catalogue (REST, mp-api, OPTIMADE, the explorer), so each counts alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import OperationalError, connection, transaction
from django.db.models import QuerySet

__all__ = ["ESTIMATE_ABOVE", "EXACT_COUNT_MS", "Total", "counted", "settled", "total"]

EXACT_COUNT_MS = 60  # an exact total that takes longer than this is replaced by the planner's estimate
ESTIMATE_ABOVE = 100_000  # the planner expects more matches than this: its estimate, without trying to count


@dataclass(frozen=True)
class Total:
    count: int
    estimate: bool  # True: the planner's estimate, not an exact count


def total(qs: QuerySet, timeout_ms: int | None = None) -> Total:
    """The number of matches: exact where it is cheap, otherwise PostgreSQL's estimate, marked as such.

    On PostgreSQL the planner's row estimate comes first (EXPLAIN, about a millisecond). Above
    ESTIMATE_ABOVE it is the answer: counting that many matches costs more than the page. Below, the
    exact count runs under a statement timeout of EXACT_COUNT_MS, and the estimate stands in when it
    runs out. Elsewhere (SQLite, small catalogues) the count is always exact.
    """
    if connection.vendor != "postgresql":
        return Total(qs.count(), False)
    timeout_ms = EXACT_COUNT_MS if timeout_ms is None else timeout_ms
    try:
        sql, params = qs.order_by().values("pk").query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing (e.g. an unknown element in HAS ALL)
        return Total(0, False)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    estimate = Total(int(plan[0]["Plan"]["Plan Rows"]), True)
    if estimate.count > ESTIMATE_ABOVE:
        return estimate
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            before = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{int(timeout_ms)}ms"])
            count = qs.count()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [before])
            return Total(count, False)
    except OperationalError as exc:
        from psycopg.errors import QueryCanceled

        if not isinstance(exc.__cause__, QueryCanceled):
            raise
    return estimate


def settled(found: Total, first_page: bool, rows: int, page_size: int) -> Total:
    """An estimated total corrected by what a page saw: a short first page is the whole result."""
    if not found.estimate:
        return found
    if first_page and rows < page_size:
        return Total(rows, False)
    return found


def counted(qs: QuerySet, first_page: bool, rows: int, page_size: int) -> Total:
    """The number of matches of the query whose page held ``rows`` rows: a short first page is the whole answer
    (nothing is counted), otherwise ``total``."""
    if first_page and rows < page_size:
        return Total(rows, False)
    return total(qs)
