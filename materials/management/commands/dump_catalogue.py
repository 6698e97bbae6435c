from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from pymatgen.core import Structure
from pymatgen.io.cif import CifWriter
from tqdm import tqdm

from materials import export, query


class Command(BaseCommand):
    help = (
        "Dump the catalogue (or a filtered part) to a folder: materials.jsonl.gz (every field, structure and "
        "licence) and cifs.zip (one CIF per material with a structure, by id), plus LICENCE.txt."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", help="Folder to write into (created if needed).")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                            help="A search parameter of the REST API, e.g. --param elements=Li,O (repeatable).")

    def handle(self, *args, **options):
        params = {}
        for item in options["param"]:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--param {item!r}: write it as NAME=VALUE")
            params[name] = value
        params["_all_fields"] = "true"
        try:
            parsed = query.parse(params)
        except query.QueryError as exc:
            raise CommandError(str(exc)) from None
        out = Path(options["out"])
        out.mkdir(parents=True, exist_ok=True)
        total = parsed.queryset().count()
        written = cifs = 0
        with (gzip.open(out / "materials.jsonl.gz", "wt") as jsonl,
              zipfile.ZipFile(out / "cifs.zip", "w", zipfile.ZIP_DEFLATED) as zf):
            for line, doc in tqdm(self.lines(parsed), total=total, unit="material", disable=options["verbosity"] == 0):
                jsonl.write(line)
                written += 1
                if doc.get("structure"):
                    zf.writestr(f"by_id/{doc['material_id']}.cif", str(CifWriter(Structure.from_dict(doc["structure"]))))
                    cifs += 1
        (out / "LICENCE.txt").write_text(export.LICENCE_NOTE + "\n")
        self.stdout.write(self.style.SUCCESS(f"{written} materials and {cifs} CIFs written to {out}"))

    @staticmethod
    def lines(parsed):
        import json

        for doc in export.documents(parsed, with_structure=True):
            yield json.dumps(doc, allow_nan=False) + "\n", doc
