from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import CommandError

from materials import readers, rows
from materials.importing import ImportSpec, upload_id
from materials.models import Licence, Source
from materials.science import RowRejected, finite_or_none

from ._base import ImportCommand

MAX_FILE_BYTES = 5 * 1024 * 1024


class Command(ImportCommand):
    help = (
        "Import your own structures: CIF, POSCAR/.vasp, extended XYZ or pymatgen JSON files, or folders of them. "
        "Energies are optional: --energies names a CSV of file,energy_ev (corrected total energy of the cell, "
        "MP2020-compatible, eV); an extxyz file's own energy is used otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files or folders.")
        parser.add_argument("--energies", help="CSV with columns file,energy_ev.")
        parser.add_argument("--method", default="User supplied", help="How the energies were computed.")
        parser.add_argument(
            "--licence", default=Licence.UNSPECIFIED, choices=[c.value for c in Licence], help="Licence of the data."
        )
        super().add_arguments(parser)

    def build_spec(self, options) -> ImportSpec:
        energies = self.read_energies(options["energies"]) if options["energies"] else {}
        paths = [Path(p) for p in options["paths"]]

        def records():
            for number, record in readers.read_structure_files(paths, MAX_FILE_BYTES):
                text = record.get("structure_text")
                record["material_id"] = upload_id(text) if text else f"file:{record['file']}"
                record["method"] = options["method"]
                energy = energies.get(record["file"])
                if energy is None and record.get("structure_format") == "extxyz" and text:
                    energy = extxyz_energy(text)
                record["energy_ev"] = energy
                yield number, record

        licence = options["licence"]
        return ImportSpec(
            importer="import_structures",
            source=Source.UPLOAD,
            dataset="User structures",
            records=records(),
            process=rows.process_upload,
            licence=lambda _id: licence,
            options={"paths": [p.name for p in paths], "method": options["method"]},
            announce=True,
        )

    def read_energies(self, path: str) -> dict[str, float | None]:
        p = Path(path)
        if not p.is_file():
            raise CommandError(f"no such energies file: {path}")
        with p.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"file", "energy_ev"} <= set(reader.fieldnames or []):
                raise CommandError(f"{p.name} needs the columns file,energy_ev")
            try:
                return {row["file"].strip(): finite_or_none(row["energy_ev"]) for row in reader}
            except RowRejected as exc:
                raise CommandError(f"{p.name}: {exc}") from None


def extxyz_energy(text: str) -> float | None:
    import io

    from ase.io import read

    try:
        atoms = read(io.StringIO(text), format="extxyz")
        energy = atoms.info.get("energy")
        if energy is None and atoms.calc is not None:
            energy = atoms.get_potential_energy()
        return float(energy) if energy is not None else None
    except Exception:
        return None
