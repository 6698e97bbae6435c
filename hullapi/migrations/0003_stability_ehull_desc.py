"""PostgreSQL: energies above the hull in descending order (nulls last, as the API sorts them), with the
material, so that "-energy_above_hull" pages walk an index instead of sorting every stability row, and range
counts are index-only scans."""

from django.db import migrations

INDEX = ("CREATE INDEX IF NOT EXISTS stability_set_ehull_desc ON hullapi_stability "
         "(hull_set, e_above_hull_ev_per_atom DESC NULLS LAST) INCLUDE (material_id)")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS stability_set_ehull_desc")


class Migration(migrations.Migration):
    dependencies = [("hullapi", "0002_electrochemical_window"), ("materials", "0006_elements_gin")]
    operations = [migrations.RunPython(forward, backward)]
