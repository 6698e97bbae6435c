"""Readers for the datasets the importers accept. Pure: files in, plain records out.

Every reader yields ``(row_number, record)`` where ``record`` is a dict of plain values; a row that
cannot even be read yields a record with an ``"error"`` key so the importer reports it and goes on.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .science import STRUCTURE_FORMATS

GNOME_SUMMARY = "stable_materials_summary.csv"
GNOME_SAMPLE = "gnome_materials_sample.jsonl.gz"
MP_SNAPSHOT = "mp_hull_snapshot.csv"
ELEMENTAL_REFERENCES = "elemental_references.csv"

# Columns of the GNoME release kept as published (gnome_method.md section 7.1).
RELEASE_PUBLISHED_COLUMNS = {
    "Volume": "volume_a3",
    "Density": "density_g_cm3",
    "Point Group": "point_group",
    "Space Group": "spacegroup_symbol",
    "Space Group Number": "spacegroup_number",
    "Crystal System": "crystal_system",
    "Decomposition Energy Per Atom": "decomposition_energy_per_atom_mp_snapshot",
    "Decomposition Energy Per Atom All": "decomposition_energy_per_atom_all",
    "Decomposition Energy Per Atom Relative": "decomposition_energy_per_atom_relative",
    "Decomposition Energy Per Atom MP": "decomposition_energy_per_atom_mp",
    "Decomposition Energy Per Atom MP OQMD": "decomposition_energy_per_atom_mp_oqmd",
    "Is Train": "is_train",
}


class DatasetError(ValueError):
    """The dataset as a whole cannot be read (missing file, wrong layout)."""


def read_references(path: Path) -> dict[str, tuple[float, str]]:
    """Elemental references: element -> (energy per atom in eV, reference material id)."""
    if not path.is_file():
        raise DatasetError(f"elemental references not found: {path.name} in {path.parent}")
    refs: dict[str, tuple[float, str]] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"element", "energy_per_atom_eV"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{path.name} lacks column(s) {sorted(missing)}")
        for row in reader:
            refs[row["element"].strip()] = (float(row["energy_per_atom_eV"]), row.get("mp_material_id", "").strip())
    return refs


def reference_energies(path: Path) -> dict[str, float]:
    """Elemental references as chemical potentials: element -> energy per atom in eV (``read_references``
    without the material ids)."""
    return {element: energy for element, (energy, _) in read_references(path).items()}


def _cell(row: dict, column: str):
    value = row.get(column)
    if value is None:
        return None
    value = value.strip() if isinstance(value, str) else value
    return None if value == "" else value


def read_gnome_sample(path: Path) -> Iterator[tuple[int, dict]]:
    """The sample file: one JSON object per line (gzip or plain)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, {"error": f"line is not JSON: {exc.msg}"}
                continue
            if not isinstance(raw, dict):
                yield number, {"error": "line is not a JSON object"}
                continue
            yield number, {
                "material_id": str(raw.get("material_id") or "").strip(),
                "composition": raw.get("composition"),
                "structure_text": raw.get("cif"),
                "structure_format": "cif",
                "e_form_ev_per_atom": raw.get("e_form_per_atom"),
                "energy_corrected_ev": None,
                "energy_uncorrected_ev": None,
                "band_gap_ev": None,
                "dimensionality": None,
                "published": {
                    k: raw[k] for k in ("reduced_formula", "crystal_system", "sources") if raw.get(k) is not None
                },
            }


class _CifStore:
    """CIFs of the GNoME release by MaterialId, from ``by_id/`` or ``by_id.zip`` (read lazily)."""

    def __init__(self, root: Path) -> None:
        self.directory = root / "by_id"
        self.zip = None
        self.names: dict[str, str] = {}
        if self.directory.is_dir():
            for p in self.directory.iterdir():
                if p.suffix.lower() == ".cif":
                    self.names[p.stem] = str(p)
        elif (root / "by_id.zip").is_file():
            self.zip = zipfile.ZipFile(root / "by_id.zip")
            for name in self.zip.namelist():
                stem, _, ext = Path(name).name.rpartition(".")
                if ext.lower() == "cif":
                    self.names[stem] = name
        else:
            raise DatasetError(f"no CIFs: neither by_id/ nor by_id.zip in {root}")

    def get(self, material_id: str) -> str | None:
        name = self.names.get(material_id)
        if name is None:
            return None
        if self.zip is not None:
            return self.zip.read(name).decode("utf-8", errors="replace")
        return Path(name).read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def read_gnome_release(root: Path) -> Iterator[tuple[int, dict]]:
    """The official release layout: ``stable_materials_summary.csv`` plus ``by_id/`` or ``by_id.zip``."""
    summary = root / GNOME_SUMMARY
    if not summary.is_file():
        raise DatasetError(f"{GNOME_SUMMARY} not found in {root}")
    cifs = _CifStore(root)
    try:
        with summary.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.DictReader(fh)
            columns = set(reader.fieldnames or [])
            required = {"MaterialId", "Composition"}
            if required - columns:
                raise DatasetError(f"{GNOME_SUMMARY} lacks required column(s) {sorted(required - columns)}")
            if not columns & {"Formation Energy Per Atom", "Corrected Energy"}:
                raise DatasetError(f"{GNOME_SUMMARY} has neither 'Formation Energy Per Atom' nor 'Corrected Energy'")
            for number, row in enumerate(reader, start=1):
                material_id = (row.get("MaterialId") or "").strip()
                published = {
                    key: row[col] for col, key in RELEASE_PUBLISHED_COLUMNS.items() if _cell(row, col) is not None
                }
                yield number, {
                    "material_id": material_id,
                    "composition": _cell(row, "Composition"),
                    "structure_text": cifs.get(material_id) if material_id else None,
                    "structure_format": "cif",
                    "e_form_ev_per_atom": _cell(row, "Formation Energy Per Atom"),
                    "energy_corrected_ev": _cell(row, "Corrected Energy"),
                    "energy_uncorrected_ev": _cell(row, "Uncorrected Energy"),
                    "band_gap_ev": _cell(row, "Bandgap"),
                    "dimensionality": _cell(row, "Dimensionality Cheon"),
                    "published": published,
                }
    finally:
        cifs.close()


def parse_elements_literal(text: str | None) -> list[str] | None:
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return [str(v) for v in value] if isinstance(value, list | tuple) else None


def read_mp_snapshot(path: Path) -> Iterator[tuple[int, dict]]:
    """GNoME's snapshot of the Materials Project hull (energies only, no structures)."""
    if not path.is_file():
        raise DatasetError(f"Materials Project snapshot not found: {path.name} in {path.parent}")
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        required = {"Composition", "MaterialId", "Corrected Energy"}
        if required - set(reader.fieldnames or []):
            raise DatasetError(f"{path.name} lacks required column(s) {sorted(required - set(reader.fieldnames or []))}")
        for number, row in enumerate(reader, start=1):
            yield number, {
                "material_id": (row.get("MaterialId") or "").strip(),
                "composition": _cell(row, "Composition"),
                "nsites": _cell(row, "NSites"),
                "energy_published_ev": _cell(row, "Corrected Energy"),
                "published": {
                    "reduced_formula": _cell(row, "Reduced Formula"),
                    "decomposition_energy_per_atom_all": _cell(row, "Decomposition Energy Per Atom All"),
                    "decomposition_energy_per_atom_mp": _cell(row, "Decomposition Energy Per Atom MP"),
                },
            }


def structure_files(paths: list[Path]) -> Iterator[Path]:
    """Structure files among the given files and folders (recursively), in a stable order."""
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and structure_format_of(child):
                    yield child
        elif path.is_file():
            yield path
        else:
            raise DatasetError(f"no such file or folder: {path}")


def structure_format_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.startswith(("poscar", "contcar")):
        return "poscar"
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    return STRUCTURE_FORMATS.get(suffix)


def read_structure_files(paths: list[Path], max_bytes: int) -> Iterator[tuple[int, dict]]:
    for number, path in enumerate(structure_files(paths), start=1):
        fmt = structure_format_of(path)
        record = {"file": path.name, "path": str(path), "structure_format": fmt}
        if fmt is None:
            record["error"] = f"{path.name}: unknown structure format (use .cif, .vasp/POSCAR, .extxyz or .json)"
        elif path.stat().st_size > max_bytes:
            record["error"] = f"{path.name}: file is {path.stat().st_size} bytes; the limit is {max_bytes}"
        else:
            raw = path.read_bytes()
            try:
                record["structure_text"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                record["error"] = f"{path.name}: not UTF-8 text"
        yield number, record
