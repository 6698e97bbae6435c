"""Model fields of the catalogue."""

from __future__ import annotations

from django.db import models


class JSONField(models.JSONField):
    """JSONField that keeps PostgreSQL bulk inserts on the plain ``VALUES`` path.

    Django 5.2 bulk-inserts through ``UNNEST`` of typed arrays on PostgreSQL; psycopg then escapes every
    large JSON document (a structure is ~5 kB) as an array literal with a regular expression per
    character, which made that escaping the slowest step of an import (see benchmarks/RESULTS.md).
    A field with ``get_placeholder`` opts out of that path.
    """

    def get_placeholder(self, value, compiler, connection):
        return "%s"
