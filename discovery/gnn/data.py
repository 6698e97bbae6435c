"""Training data for the GNN: structures with formation energies, from the catalogue or from files. Pure.

Split by composition hash, as GNoME: md5 of the reduced formula (pymatgen's), modulo 100, below 85 is
training; every polymorph of a composition falls on the same side.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .featurize import Graph, GraphError, composition_graph, graph_of, tta_length_factors

TRAIN_PERCENT = 85


def split_of(reduced_formula: str) -> str:
    """'train' or 'test' by GNoME's composition hash."""
    return "train" if int(hashlib.md5(reduced_formula.encode()).hexdigest(), 16) % 100 < TRAIN_PERCENT else "test"


@dataclass(frozen=True)
class Example:
    material_id: str
    reduced_formula: str
    e_form: float  # eV/atom
    graph: Graph


def _rows(path: Path, limit: int | None) -> Iterator[tuple[dict, float | None]]:
    """Rows of a jsonl(.gz) in the sample's format, with the formation energy (None when missing or NaN)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        for i, line in enumerate(fh):
            if limit is not None and i >= limit:
                return
            row = json.loads(line)
            e_form = row.get("e_form_per_atom")
            yield row, (float(e_form) if e_form is not None and math.isfinite(float(e_form)) else None)


def read_jsonl(path: Path, limit: int | None = None) -> Iterator[tuple[str, object, float | None]]:
    """(material id, Structure, formation energy or None) of a jsonl(.gz) in the sample's format."""
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row, e_form in _rows(path, limit):
            yield row["material_id"], Structure.from_str(row["cif"], fmt="cif"), e_form


def examples(items: Iterable[tuple[str, object, float | None]], tta: bool = True) -> tuple[list[Example], dict[str, str]]:
    """Training examples of (id, structure, e_form) items, and the reason for each item left out."""
    min_scale = float(tta_length_factors([0.8])[0]) if tta else 1.0
    out, skipped = [], {}
    for material_id, structure, e_form in items:
        if e_form is None:
            skipped[material_id] = "no formation energy"
            continue
        try:
            graph = graph_of(structure, min_scale=min_scale)
        except GraphError as exc:
            skipped[material_id] = str(exc)
            continue
        out.append(Example(material_id, structure.composition.reduced_formula, e_form, graph))
    return out, skipped


def read_jsonl_compositions(path: Path, limit: int | None = None) -> Iterator[tuple[str, object, float | None]]:
    """(material id, Composition, formation energy or None) of a jsonl(.gz) in the sample's format; the CIFs
    are not parsed."""
    from pymatgen.core import Composition

    for row, e_form in _rows(path, limit):
        yield row["material_id"], Composition(row["composition"]), e_form


def composition_examples(items: Iterable[tuple[str, object, float | None]]) -> tuple[list[Example], dict[str, str]]:
    """Examples for the compositional model: one per reduced formula, labelled with the lowest formation energy
    among its entries (GNoME labels a composition with its best structure). ``items`` are (id, Composition or
    Structure, e_form); the example's id is that of the lowest entry."""
    best: dict[str, tuple[float, str, object]] = {}
    skipped: dict[str, str] = {}
    for material_id, thing, e_form in items:
        composition = getattr(thing, "composition", thing)
        if e_form is None:
            skipped[material_id] = "no formation energy"
            continue
        formula = composition.reduced_formula
        if formula not in best or e_form < best[formula][0]:
            best[formula] = (e_form, material_id, composition)
    out = []
    for formula in sorted(best):
        e_form, material_id, composition = best[formula]
        try:
            out.append(Example(material_id, formula, e_form, composition_graph(composition)))
        except GraphError as exc:
            skipped[material_id] = str(exc)
    return out, skipped


def data_hash(items: Iterable[Example]) -> str:
    """A short hash of the examples (ids and targets), recorded with every checkpoint."""
    digest = hashlib.sha256()
    for ex in sorted(items, key=lambda e: e.material_id):
        digest.update(f"{ex.material_id}:{ex.e_form:.6f};".encode())
    return digest.hexdigest()[:16]
