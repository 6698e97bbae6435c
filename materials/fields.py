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


class _ElementsLookup(models.Lookup):
    """``elements__<lookup>=[symbols]`` on PostgreSQL: array operators on ``gnx_elements(elements)``, the
    expression of the GIN index (migration 0006). Other databases filter on the element bit masks instead."""

    operator = ""

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            raise NotImplementedError(f"elements__{self.lookup_name} is PostgreSQL's; filter on the masks elsewhere")
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"gnx_elements({lhs}) {self.operator} %s::text[]", [*lhs_params, list(self.rhs)]

    def get_prep_lookup(self):
        return [str(symbol) for symbol in self.rhs]


@JSONField.register_lookup
class ElementsHaveAll(_ElementsLookup):
    lookup_name = "gnx_all"
    operator = "@>"


@JSONField.register_lookup
class ElementsHaveAny(_ElementsLookup):
    lookup_name = "gnx_any"
    operator = "&&"
