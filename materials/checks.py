"""System checks of the catalogue's configuration (run by every manage.py command and the server)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Warning, register

from . import readers


@register()
def data_dir_check(app_configs, **kwargs):
    data_dir = Path(settings.GNOME_DATA_DIR)
    missing = [name for name in (readers.GNOME_SAMPLE, readers.MP_SNAPSHOT, readers.ELEMENTAL_REFERENCES)
               if not (data_dir / name).is_file()]
    if not missing:
        return []
    return [Warning(
        f"GNOME_DATA_DIR ({data_dir}) lacks {', '.join(missing)}",
        hint="Set GNOME_DATA_DIR to the folder holding the GNoME sample, the MP hull snapshot and the references; "
             "importers without a path argument read from there.",
        id="materials.W001",
    )]
