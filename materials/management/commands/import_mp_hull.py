from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from materials import readers, rows
from materials.importing import ImportSpec
from materials.models import Licence, Source

from ._base import ImportCommand


def mp_licence(material_id: str) -> str:
    # mp-ids are Materials Project calculations (CC BY 4.0); the few hex ids are GNoME recomputations.
    return Licence.CC_BY_4 if material_id.startswith(("mp-", "mvc-")) else Licence.CC_BY_NC_4


class Command(ImportCommand):
    help = (
        "Import the Materials Project hull snapshot (energies only). The published energies are corrected "
        "with pymatgen's MP2020 scheme (require_bound) from the composition; the published value is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="Snapshot CSV (default: mp_hull_snapshot.csv in GNOME_DATA_DIR).")
        super().add_arguments(parser)

    def build_spec(self, options) -> ImportSpec:
        path = Path(options["path"]) if options["path"] else Path(settings.GNOME_DATA_DIR) / readers.MP_SNAPSHOT
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        with path.open() as fh:
            total = max(sum(1 for _ in fh) - 1, 0)
        return ImportSpec(
            importer="import_mp_hull",
            source=Source.MP,
            dataset=f"Materials Project hull snapshot of the GNoME release ({path.name})",
            records=readers.read_mp_snapshot(path),
            process=rows.process_mp,
            licence=mp_licence,
            total=total,
            options={"path": path.name},
        )
