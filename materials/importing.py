"""The import service: records in, catalogue rows out, idempotently and in transactional batches.

The CPU-bound part (parsing, symmetry, corrections) runs in worker processes through the pure
functions of ``rows``; this module only decides what to process and writes the results.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from . import bulk, readers, rows
from .fingerprint import FINGERPRINT_VERSION
from .models import Calculation, ElementalReference, Fingerprint, ImportRun, Material
from .signals import materials_changed

log = logging.getLogger(__name__)

# Bump when the processing of rows changes, so that a re-import recomputes every row.
IMPORT_VERSION = "1"
BATCH_SIZE = 2000

MATERIAL_UPDATE_FIELDS = [
    "source", "licence", "structure", "formula", "formula_reduced", "formula_anonymous", "chemsys",
    "elements", "nelements", "nsites", "elements_mask_low", "elements_mask_high", "chemical_formula_reduced",
    "chemical_formula_anonymous", "volume_a3", "density_g_cm3", "spacegroup_number",
    "spacegroup_symbol", "crystal_system", "point_group", "band_gap_ev", "dimensionality",
    "e_form_ev_per_atom", "energy_corrected_ev", "energy_method", "energy_note", "dataset",
    "dataset_version", "extra", "row_hash", "import_run", "updated_at",
]
CALCULATION_UPDATE_FIELDS = [
    "kind", "energy_ev", "energy_corrected_ev", "correction_ev", "correction_scheme",
    "e_form_ev_per_atom", "energy_note", "structure", "import_run", "updated_at",
]


@dataclass
class ImportSpec:
    importer: str
    source: str
    dataset: str
    records: Iterable[tuple[int, dict]]
    process: Callable[[Mapping, Mapping[str, float]], dict]
    licence: Callable[[str], str]
    dataset_version: str = ""
    total: int | None = None
    options: dict = field(default_factory=dict)
    announce: bool = False  # send materials_changed afterwards (small imports: uploads, discoveries)


def worker_count() -> int:
    if multiprocessing.current_process().daemon:
        return 1  # inside a Celery prefork child, which may not start processes of its own
    configured = settings.GNOME_IMPORT_WORKERS
    return configured if configured > 0 else (os.cpu_count() or 1)


# ---- elemental references -------------------------------------------------------------------

def load_references_file(path: Path | None = None, run: ImportRun | None = None) -> int:
    """Store the elemental references from a CSV (default: GNOME_DATA_DIR). Idempotent."""
    path = path or Path(settings.GNOME_DATA_DIR) / readers.ELEMENTAL_REFERENCES
    refs = readers.read_references(path)
    with transaction.atomic():
        for element, (energy, ref_id) in refs.items():
            ElementalReference.objects.update_or_create(
                element=element,
                defaults={
                    "energy_per_atom_ev": energy,
                    "reference_material_id": ref_id,
                    "dataset": path.name,
                    "import_run": run,
                },
            )
    return len(refs)


def references() -> dict[str, float]:
    """Element -> chemical potential (eV/atom); loads the default file the first time."""
    if not ElementalReference.objects.exists():
        load_references_file()
    return dict(ElementalReference.objects.values_list("element", "energy_per_atom_ev"))


def _digest(refs: Mapping[str, float]) -> str:
    return hashlib.sha256(json.dumps(sorted(refs.items())).encode()).hexdigest()[:16]


def upload_id(text: str) -> str:
    """Our own id for an uploaded structure: the same file content always gets the same id."""
    return "upl-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def row_hash(record: Mapping, refs_digest: str) -> str:
    payload = json.dumps(record, sort_keys=True, default=str) + IMPORT_VERSION + refs_digest
    return hashlib.sha256(payload.encode()).hexdigest()


# ---- the import loop --------------------------------------------------------------------------

def _batches(iterable: Iterable, size: int) -> Iterator[list]:
    it = iter(iterable)
    while batch := list(islice(it, size)):
        yield batch


def run_import(
    spec: ImportSpec,
    *,
    limit: int | None = None,
    workers: int | None = None,
    batch_size: int = BATCH_SIZE,
    run_by: str | None = None,
    progress: bool = True,
) -> ImportRun:
    """Import the records of ``spec``; returns the finished ImportRun (also on row rejections)."""
    refs = references()
    refs_digest = _digest(refs)
    workers = workers or worker_count()
    run = ImportRun.objects.create(
        importer=spec.importer,
        dataset=spec.dataset,
        source=spec.source,
        options={**spec.options, "limit": limit, "workers": workers, "import_version": IMPORT_VERSION},
        run_by=run_by if run_by is not None else _current_user(),
    )
    total = min(spec.total, limit) if spec.total is not None and limit else (limit or spec.total)
    records = islice(spec.records, limit) if limit else spec.records
    seen: set[str] = set()
    changed: list[str] = []
    pool = None
    try:
        if workers > 1:
            pool = _pool(workers, spec.process, refs)
        else:
            rows.init_worker(spec.process, refs)
        bar = tqdm(total=total, desc=spec.importer, unit="row", disable=not progress, mininterval=1.0)
        pending = None  # the previous batch: written while the workers process the next one
        for batch in _batches(records, batch_size):
            todo, stored_ids = _triage(batch, run, seen, refs_digest)
            if pool:
                results = pool.map_async(rows.process_one, todo, chunksize=16)
            else:
                results = [rows.process_one(item) for item in todo]
            if pending:
                _write(*pending)
            pending = (results, spec, run, stored_ids, len(batch), bar, changed)
        if pending:
            _write(*pending)
        bar.close()
        if run.inserted + run.updated > batch_size:
            bulk.refresh_statistics(Material, Calculation)
        run.status = ImportRun.Status.SUCCEEDED
        if spec.announce and changed:
            materials_changed.send(sender=ImportRun, material_ids=sorted(changed), importer=spec.importer)
    except BaseException as exc:
        run.status = ImportRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        run.finished_at = timezone.now()
        run.save()
    return run


def _pool(workers: int, process: Callable, refs: dict[str, float]):
    """Worker processes from a fork server: fresh interpreters (no inherited database sockets) that
    import pymatgen once, not once per pool."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["materials.rows"])
    return context.Pool(workers, rows.init_worker, (process, refs))


def _current_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _issue(run: ImportRun, number: int, material_id: str, level: str, reason: str) -> None:
    run.issues.append({"row": number, "id": material_id, "level": level, "reason": reason})
    if level == "rejected":
        run.rejected += 1
    else:
        run.warnings += 1


def _triage(
    batch: list[tuple[int, dict]], run: ImportRun, seen: set[str], refs_digest: str
) -> tuple[list, set[str]]:
    """Count read errors, duplicates and unchanged rows; return the rows to process and the stored ids."""
    run.rows_read += len(batch)
    candidates = []
    for number, record in batch:
        material_id = record.get("material_id") or ""
        if record.get("error"):
            _issue(run, number, material_id, "rejected", record["error"])
        elif not material_id:
            _issue(run, number, "", "rejected", "missing material id")
        elif material_id in seen:
            _issue(run, number, material_id, "rejected", f"duplicate id {material_id} (already read in this run)")
        else:
            seen.add(material_id)
            candidates.append((number, material_id, row_hash(record, refs_digest), record))
    stored = dict(
        Material.objects.filter(material_id__in=[c[1] for c in candidates]).values_list("material_id", "row_hash")
    )
    todo = []
    for item in candidates:
        if stored.get(item[1]) == item[2]:
            run.unchanged += 1
        else:
            todo.append(item)
    return todo, set(stored)


def _write(results, spec: ImportSpec, run: ImportRun, stored_ids: set[str], batch_rows: int, bar, changed: list) -> None:
    """Store one processed batch in one transaction, then record the run's progress."""
    if not isinstance(results, list):
        results = results.get()
    changed.extend(_store(results, spec, run, stored_ids))
    run.save()
    bar.update(batch_rows)


def _too_long(model, values: dict) -> str:
    for name, value in values.items():
        limit = getattr(model._meta.get_field(name), "max_length", None)
        if limit and isinstance(value, str) and len(value) > limit:
            return f"{name} is {len(value)} characters long; at most {limit} are stored"
    return ""


def _store(results: list, spec: ImportSpec, run: ImportRun, stored_ids: set[str]) -> list[str]:
    """Write a batch in one transaction; returns the ids of the materials inserted or updated."""
    materials, calculations, fingerprints = [], {}, {}
    for number, material_id, digest, outcome in results:
        if isinstance(outcome, str):
            _issue(run, number, material_id, "rejected", outcome)
            continue
        too_long = _too_long(Material, outcome["material"]) or _too_long(Calculation, outcome.get("calculation") or {})
        if too_long:
            _issue(run, number, material_id, "rejected", too_long)
            continue
        for message in outcome["warnings"]:
            _issue(run, number, material_id, "warning", message)
        materials.append(
            {
                "material_id": material_id,
                "source": spec.source,
                "licence": spec.licence(material_id),
                "dataset": spec.dataset,
                "dataset_version": spec.dataset_version,
                "extra": {"dataset_row": number, **outcome.get("extra", {})},
                "row_hash": digest,
                "import_run": run,
                **outcome["material"],
            }
        )
        if outcome.get("calculation"):
            calculations[material_id] = outcome["calculation"]
        fingerprints[material_id] = outcome.get("fingerprint")
        if material_id in stored_ids:
            run.updated += 1
        else:
            run.inserted += 1
    if not materials:
        return []
    with transaction.atomic():
        bulk.upsert(Material, materials, ["material_id"], MATERIAL_UPDATE_FIELDS)
        pks = dict(
            Material.objects.filter(material_id__in=[m["material_id"] for m in materials]).values_list("material_id", "pk")
        )
        bulk.upsert(
            Calculation,
            [{"material_id": pks[mid], "import_run": run, **calc} for mid, calc in calculations.items()],
            ["material", "method"],
            CALCULATION_UPDATE_FIELDS,
        )
        store_fingerprints({pks[mid]: vector for mid, vector in fingerprints.items()})
    return list(pks)


def store_fingerprints(vectors: dict[int, bytes | None]) -> None:
    """Write fingerprints by material pk (the one writer: imports, ``compute_fingerprints``, a single save); a
    material without one (no structure, or one that could not be fingerprinted) loses any older one. In the
    caller's transaction."""
    now = timezone.now()
    bulk.upsert(Fingerprint, [{"material": pk, "version": FINGERPRINT_VERSION, "vector": vector, "computed_at": now}
                              for pk, vector in vectors.items() if vector is not None],
                ["material"], ["version", "vector", "computed_at"])
    gone = [pk for pk, vector in vectors.items() if vector is None]
    if gone:
        Fingerprint.objects.filter(material_id__in=gone).delete()
