"""Bulk upsert of catalogue rows: COPY on PostgreSQL, ``bulk_create(update_conflicts=True)`` elsewhere.

An import writes thousands of rows with ~5 kB JSON documents each. On PostgreSQL the rows are
streamed with COPY into a temporary table and merged with one ``INSERT ... ON CONFLICT DO UPDATE``:
no SQL text grows with the batch and no value is escaped by Python (measured in
benchmarks/RESULTS.md). Identifiers come from the model's metadata, values only through COPY.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.db import connection, models
from django.utils import timezone


def upsert(
    model: type[models.Model],
    rows: Sequence[dict],
    unique_fields: Sequence[str],
    update_fields: Sequence[str],
) -> None:
    """Insert ``rows`` (dicts of field name -> value) or update the stored row with the same unique key.

    Must run inside a transaction. Fields left out of a row take their model default.
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy_upsert(model, rows, unique_fields, update_fields)
    else:
        model.objects.bulk_create(
            [_instance(model, row) for row in rows],
            update_conflicts=True,
            unique_fields=list(unique_fields),
            update_fields=list(update_fields),
        )


def _instance(model: type[models.Model], row: dict) -> models.Model:
    """A model instance from a row whose foreign keys may be given as primary keys."""
    kwargs = {}
    for name, value in row.items():
        field = model._meta.get_field(name)
        kwargs[field.attname if field.is_relation and not isinstance(value, models.Model) else name] = value
    return model(**kwargs)


def _copy_upsert(model, rows, unique_fields, update_fields) -> None:
    opts = model._meta
    given = [opts.get_field(name) for name in rows[0]]
    missing = [f for f in opts.concrete_fields if f not in given and not f.primary_key]
    fields = given + missing
    now = timezone.now()
    defaults = [now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default()
                for f in missing]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    table, temp = qn(opts.db_table), qn(f"upsert_{opts.db_table}")
    conflict = ", ".join(qn(opts.get_field(name).column) for name in unique_fields)
    updates = ", ".join(
        f"{qn(opts.get_field(name).column)} = EXCLUDED.{qn(opts.get_field(name).column)}" for name in update_fields
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {columns} FROM {table} WITH NO DATA")
        with cursor.copy(f"COPY {temp} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [_copy_value(f, row[f.name if f.name in row else f.attname]) for f in given]
                    + [_copy_value(f, value) for f, value in zip(missing, defaults, strict=True)]
                )
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {temp} "
            f"ON CONFLICT ({conflict}) DO UPDATE SET {updates}"
        )


def _copy_value(field, value):
    if value is None:
        return None
    if isinstance(field, models.JSONField):
        return json.dumps(value, cls=field.encoder, allow_nan=False)
    if isinstance(value, models.Model):
        return value.pk
    return field.get_db_prep_save(value, connection)


def refresh_statistics(*models_: type[models.Model]) -> None:
    """Let PostgreSQL's planner see a bulk load at once (autovacuum would, minutes later): without it,
    a freshly filled table is planned as nearly empty (measured: 500 ms vs 94 ms for a stability filter).
    VACUUM also sets the visibility map, so that element filters run as index-only scans of the narrow
    element-mask index (measured: 4.7 ms instead of 23 ms for a seq scan of 62,501 materials)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        for model in models_:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")
