"""PostgreSQL: a GIN index on the elements of each material (the embedded SQLite default keeps the bit masks).

``gnx_elements(jsonb)`` turns the stored element list into a text array; the index is on that expression, so
element filters (contains all of, contains any of) are answered from the index, and ANALYZE keeps element
statistics for it, which gives the planner real estimates (a bit test on the masks is estimated at one row).
"""

from django.db import migrations

FUNCTION = ("CREATE OR REPLACE FUNCTION gnx_elements(jsonb) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE "
            "STRICT AS $$ SELECT ARRAY(SELECT jsonb_array_elements_text($1)) $$")
INDEX = "CREATE INDEX IF NOT EXISTS material_elements_gin ON materials_material USING gin (gnx_elements(elements))"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)
        schema_editor.execute(INDEX)
        schema_editor.execute("ANALYZE materials_material")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS material_elements_gin")
        schema_editor.execute("DROP FUNCTION IF EXISTS gnx_elements(jsonb)")


class Migration(migrations.Migration):
    dependencies = [("materials", "0005_scale_source")]
    operations = [migrations.RunPython(forward, backward)]
