from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from materials.importing import load_references_file
from materials.readers import DatasetError


class Command(BaseCommand):
    help = "Load the elemental references (chemical potentials) that formation energies are measured from."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="CSV with element,energy_per_atom_eV,mp_material_id.")

    def handle(self, *args, **options):
        try:
            count = load_references_file(Path(options["path"]) if options["path"] else None)
        except DatasetError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"{count} elemental references loaded"))
