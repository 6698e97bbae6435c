from __future__ import annotations

import gzip
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from materials import readers, rows
from materials.importing import ImportSpec
from materials.models import Licence, Source

from ._base import ImportCommand


def count_lines(path: Path) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


class Command(ImportCommand):
    help = (
        "Import GNoME materials: the official release layout (a folder with stable_materials_summary.csv and "
        "by_id/ or by_id.zip) or the sample file gnome_materials_sample.jsonl.gz. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            nargs="?",
            help="Release folder or .jsonl(.gz) file (default: the sample in GNOME_DATA_DIR).",
        )
        parser.add_argument("--dataset-version", default="", help="Release version, e.g. 2024-11-21.")
        super().add_arguments(parser)

    def build_spec(self, options) -> ImportSpec:
        path = Path(options["path"]) if options["path"] else Path(settings.GNOME_DATA_DIR) / readers.GNOME_SAMPLE
        if path.is_dir():
            records = readers.read_gnome_release(path)
            dataset = f"GNoME release ({readers.GNOME_SUMMARY})"
            total = (max(sum(1 for _ in (path / readers.GNOME_SUMMARY).open()) - 1, 0)
                     if (path / readers.GNOME_SUMMARY).is_file() else None)
        elif path.is_file():
            records = readers.read_gnome_sample(path)
            dataset = f"GNoME sample ({path.name})"
            total = count_lines(path)
        else:
            raise CommandError(f"no such file or folder: {path}")
        return ImportSpec(
            importer="import_gnome",
            source=Source.GNOME,
            dataset=dataset,
            dataset_version=options["dataset_version"],
            records=records,
            process=rows.process_gnome,
            licence=lambda _id: Licence.CC_BY_NC_4,
            total=total,
            options={"path": path.name},
        )
