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


# Candidates: md5("candidate:" + parent formula) % 100 in [0, 55) and [85, 100) train, [55, 70) validation,
# [70, 85) test. Until screening model version 5 the test split was [70, 100): 30 % of the evaluations held out
# where 15 % (several hundred candidates) measures the model well enough, and training data is what lowers its
# error. Buckets 85-99 became training data then; every model before version 5 had never seen them, so the
# smaller test split stays unseen by every released model (benchmarks/RESULTS.md, "Screening model, version 5").
VALIDATION_FROM, TEST_FROM, TEST_UNTIL = 55, 70, 85


def candidate_split(parent_formula: str) -> str:
    """'train', 'validation' or 'test' for an evaluated candidate of this parent composition (every candidate of
    one parent composition falls on the same side). Parents come from the DFT training split only, so no
    candidate is a near copy of a DFT test crystal."""
    bucket = int(hashlib.md5(f"candidate:{parent_formula}".encode()).hexdigest(), 16) % 100
    if VALIDATION_FROM <= bucket < TEST_FROM:
        return "validation"
    return "test" if TEST_FROM <= bucket < TEST_UNTIL else "train"


@dataclass(frozen=True)
class Example:
    material_id: str
    reduced_formula: str
    e_form: float  # eV/atom
    graph: Graph
    fidelity: str = "dft"  # the energy method of the label: "dft", or a potential's name ("CHGNet 0.3.0")


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


def structure_of(data: dict):
    """A pymatgen Structure from its dict, or from the compact form (lattice, species, frac_coords) of the
    evaluated-candidates file."""
    from pymatgen.core import Lattice, Structure

    if "sites" in data:
        return Structure.from_dict(data)
    return Structure(Lattice(data["lattice"]), data["species"], data["frac_coords"])


def read_evaluated(path: Path, splits=("train", "validation", "test")) -> list[dict]:
    """The records of an evaluated-candidates file (``manage.py training_examples export``) in these splits of
    the parent composition (recomputed, never read from the file)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    out = []
    with opener(path, "rt") as fh:
        for number, line in enumerate(fh):
            r = json.loads(line)
            if r.get("e_form_ev_per_atom") is None:
                continue  # an element without reference: no label on the hull's scale
            r["split"] = candidate_split(r["parent_formula"])
            r.setdefault("pk", number)
            if r["split"] in splits:
                out.append(r)
    return out


def path_frame(unrelaxed, relaxed, t: float):
    """The structure a fraction ``t`` of the way from the unrelaxed to the relaxed one (same sites in the same
    order, as a relaxation keeps them): lattice matrices and fractional coordinates interpolated linearly, each
    site along its shortest periodic image."""
    import numpy as np
    from pymatgen.core import Lattice, Structure

    if len(unrelaxed) != len(relaxed) or [s.specie.symbol for s in unrelaxed] != [s.specie.symbol for s in relaxed]:
        raise GraphError("the relaxed structure does not hold the unrelaxed one's sites in the same order")
    shift = relaxed.frac_coords - unrelaxed.frac_coords
    shift -= np.round(shift)
    lattice = Lattice((1 - t) * unrelaxed.lattice.matrix + t * relaxed.lattice.matrix)
    return Structure(lattice, unrelaxed.species, unrelaxed.frac_coords + t * shift)


def candidate_examples(records, *, relaxed: bool = True, unrelaxed: bool = True, volumes: tuple[float, ...] = (),
                       midway: tuple[float, ...] = ()) -> tuple[list[Example], dict[str, str]]:
    """Examples of evaluated candidates: the structure as screened and the relaxed one (GNoME's first and last
    frames), both labelled with the evaluator's relaxed formation energy at its fidelity. Example ids are
    ``cand-<pk>-unrelaxed`` / ``cand-<pk>-relaxed``. ``volumes`` adds copies of the unrelaxed cell scaled by
    these volume factors (within 0.8 to 1.2), with the same label: a relaxation ends where it ends, whatever
    the starting volume, so the prediction should not depend on it (``cand-<pk>-v0.90`` ...). ``midway`` adds
    frames between the two (``path_frame`` at each fraction, ``cand-<pk>-m0.50``), standing in for the
    relaxation's intermediate frames, which GNoME also trained on, with the same label."""
    min_scale = float(tta_length_factors([0.8])[0])
    if any(not 0.8 <= v <= 1.2 for v in volumes):
        raise ValueError(f"volume factors must lie within 0.8 to 1.2 (got {volumes})")
    if any(not 0 < t < 1 for t in midway):
        raise ValueError(f"midway fractions must lie strictly between 0 and 1 (got {midway})")
    out, skipped = [], {}
    for r in records:
        if r.get("e_form_ev_per_atom") is None:
            skipped[str(r["key"])] = "no formation energy (an element without a reference energy)"
            continue
        frames = ([("unrelaxed", r["structure"])] if unrelaxed else []) + (
            [("relaxed", r["relaxed_structure"])] if relaxed and r.get("relaxed_structure") else [])
        if midway and unrelaxed and relaxed and r.get("relaxed_structure"):
            first, last = structure_of(r["structure"]), structure_of(r["relaxed_structure"])
            frames += [(f"m{t:.2f}", (first, last, t)) for t in midway]
        for frame, data in frames:
            try:
                structure = path_frame(*data) if isinstance(data, tuple) else structure_of(data)
                graph = graph_of(structure, min_scale=min_scale)
            except GraphError as exc:
                skipped[f"{r['key']}:{frame}"] = str(exc)
                continue
            ident = r.get("pk", r["key"])
            out.append(Example(f"cand-{ident}-{frame}", r["formula_reduced"], float(r["e_form_ev_per_atom"]), graph,
                               r["fidelity"]))
            if frame == "unrelaxed":
                for volume, factor in zip(volumes, tta_length_factors(list(volumes)), strict=True):
                    out.append(Example(f"cand-{ident}-v{volume:.2f}", r["formula_reduced"],
                                       float(r["e_form_ev_per_atom"]), graph.scaled(float(factor)), r["fidelity"]))
    return out, skipped
