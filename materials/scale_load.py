"""Loading the synthetic scale-test catalogue (``materials.scale``): PostgreSQL COPY, one transaction.

The rows are derived in worker processes (forked: the parents are shared, not copied) and streamed into
``COPY materials_material FROM STDIN`` in the order of their ids; their energy records are then made by one
``INSERT ... SELECT`` in the database. Everything happens in one transaction: an interrupted load leaves the
catalogue as it was. Loading again with the same size and seed changes nothing; another size or seed
replaces the previous scale rows (their stabilities, energy records and screen results with them).
On other databases (the embedded SQLite default) the rows go through ``bulk_create`` in batches.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from itertools import islice

from django.db import connection, models, transaction
from django.db.models.functions import Cast
from django.utils import timezone

from . import bulk, scale
from .importing import _current_user, references, worker_count
from .models import LICENCE_BY_SOURCE, Calculation, ImportRun, Material, Source

IMPORTER = "make_scale_dataset"
PARENT_FIELDS = ("material_id", "formula", "elements", "e_form_ev_per_atom", "volume_a3", "density_g_cm3",
                 "spacegroup_number", "spacegroup_symbol", "crystal_system", "point_group", "dimensionality")
TASK_ROWS = 1000  # rows per worker task


class ScaleError(ValueError):
    """The scale dataset cannot be made (the message says why)."""


def version(n: int, seed: int) -> str:
    return f"n={n} seed={seed}"


def _parents() -> list[dict]:
    """The real GNoME crystals with an energy: their fields, and their structure as JSON text (a parsed
    structure takes ~30x the memory; workers parse their own)."""
    qs = (Material.objects.filter(source=Source.GNOME, structure__isnull=False, e_form_ev_per_atom__isnull=False,
                                  energy_corrected_ev__isnull=False)
          .order_by("material_id").annotate(structure_text=Cast("structure", models.TextField())))
    return list(qs.values(*PARENT_FIELDS, "structure_text"))


# ---- worker processes ---------------------------------------------------------------------------

_parents_shared: list[dict] = []
_refs_shared: dict[str, float] = {}


def _derive_chunk(args: tuple[list[tuple[int, int, int]], int, tuple]) -> list[tuple]:
    """COPY-ready rows for a chunk of (number, parent, variant) jobs."""
    jobs, seed, columns = args
    parents: dict[int, dict] = {}
    for _, p, _ in jobs:
        if p not in parents:
            parents[p] = {**_parents_shared[p], "structure": json.loads(_parents_shared[p]["structure_text"])}
    rows = []
    for fields in scale.derive_many(parents, _refs_shared, jobs, seed):
        fields["structure"] = json.dumps(fields["structure"])
        fields["elements"] = json.dumps(fields["elements"])
        fields["extra"] = json.dumps(fields["extra"])
        rows.append(tuple(fields.get(c) for c in columns))
    return rows


# ---- the load -----------------------------------------------------------------------------------

DERIVED = ("material_id", "structure", "formula", "formula_reduced", "formula_anonymous", "chemsys", "elements",
           "nelements", "nsites", "elements_mask_low", "elements_mask_high", "chemical_formula_reduced",
           "chemical_formula_anonymous", "volume_a3", "density_g_cm3", "spacegroup_number", "spacegroup_symbol",
           "crystal_system", "point_group", "band_gap_ev", "dimensionality", "e_form_ev_per_atom",
           "energy_corrected_ev", "energy_method", "energy_note", "extra", "row_hash")


def load(n: int, seed: int = 0, workers: int | None = None, progress: Callable[[int], None] | None = None,
         run_by: str | None = None) -> ImportRun:
    """Make and store ``n`` synthetic materials (``materials.scale``); returns the ImportRun.

    Raises:
        ScaleError: n not positive, no GNoME parents or references loaded, or too few variants for n.
    """
    if n < 1:
        raise ScaleError(f"--n must be a positive number of materials (got {n})")
    existing = Material.objects.filter(source=Source.SCALE)
    wanted = version(n, seed)
    if existing.exists() and set(existing.values_list("dataset_version", flat=True).distinct()) == {wanted} \
            and existing.count() == n:
        run = ImportRun.objects.create(importer=IMPORTER, dataset=scale.SCALE_DATASET, source=Source.SCALE,
                                       options={"n": n, "seed": seed}, run_by=run_by or _current_user(),
                                       unchanged=n, status=ImportRun.Status.SUCCEEDED, finished_at=timezone.now())
        return run
    refs = references()
    parents = _parents()
    if not parents:
        raise ScaleError("no GNoME crystals with energies in the catalogue to derive from: run import_gnome first")
    try:
        jobs = [(number, p, v) for number, (p, v) in
                enumerate(scale.plan([parent["elements"] for parent in parents], n, refs), start=1)]
    except ValueError as exc:
        raise ScaleError(str(exc)) from None
    workers = workers or worker_count()
    started = time.perf_counter()
    run = ImportRun.objects.create(importer=IMPORTER, dataset=scale.SCALE_DATASET, source=Source.SCALE,
                                   options={"n": n, "seed": seed, "workers": workers, "parents": len(parents)},
                                   run_by=run_by or _current_user())
    try:
        with transaction.atomic():
            removed = _delete_scale_rows()
            rows = _rows(parents, refs, jobs, seed, workers)
            if connection.vendor == "postgresql":
                _copy(rows, run, wanted, progress)
                _copy_calculations(run)
            else:
                _bulk_create(rows, run, wanted, progress)
            run.inserted, run.rows_read = n, n
            run.options = {**run.options, "replaced": removed, "seconds_in_transaction": time.perf_counter() - started}
            run.status = ImportRun.Status.SUCCEEDED
            run.finished_at = timezone.now()
            run.save()
    except BaseException as exc:
        run.status, run.error, run.finished_at = ImportRun.Status.FAILED, f"{type(exc).__name__}: {exc}", timezone.now()
        run.save()
        raise
    bulk.refresh_statistics(Material, Calculation)
    return run


def _rows(parents, refs, jobs, seed, workers) -> Iterator[tuple]:
    global _parents_shared, _refs_shared
    _parents_shared, _refs_shared = parents, refs
    tasks = ((jobs[start:start + TASK_ROWS], seed, DERIVED) for start in range(0, len(jobs), TASK_ROWS))
    if workers <= 1:
        for task in tasks:
            yield from _derive_chunk(task)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for chunk in pool.imap(_derive_chunk, tasks, chunksize=1):
            yield from chunk


def _constant_columns(run: ImportRun, dataset_version: str) -> dict:
    """The fields every scale row shares, by field name."""
    now = timezone.now()
    return {"source": Source.SCALE, "licence": LICENCE_BY_SOURCE[Source.SCALE], "dataset": scale.SCALE_DATASET,
            "dataset_version": dataset_version, "import_run": run, "imported_at": now, "updated_at": now}


def _copy(rows: Iterator[tuple], run: ImportRun, dataset_version: str, progress) -> None:
    constants = _constant_columns(run, dataset_version)
    opts = Material._meta
    qn = connection.ops.quote_name
    names = [*DERIVED, *constants]
    columns = ", ".join(qn(opts.get_field(name).column) for name in names)
    tail = [value.pk if isinstance(value, models.Model) else value for value in constants.values()]
    with connection.cursor() as cursor, cursor.copy(f"COPY {qn(opts.db_table)} ({columns}) FROM STDIN") as copy:
        for count, row in enumerate(rows, start=1):
            copy.write_row((*row, *tail))
            if progress is not None and count % 5000 == 0:
                progress(5000)


def _copy_calculations(run: ImportRun) -> None:
    """One energy record per scale material, made in the database from the material's own fields."""
    qn = connection.ops.quote_name
    calc, mat = Calculation._meta, Material._meta
    columns = ["material_id", "method", "kind", "energy_ev", "energy_corrected_ev", "correction_ev",
               "correction_scheme", "e_form_ev_per_atom", "energy_note", "structure", "import_run_id", "created_at",
               "updated_at"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(calc.db_table)} ({', '.join(qn(c) for c in columns)}) "
            f"SELECT id, %s, %s, NULL, energy_corrected_ev, NULL, %s, e_form_ev_per_atom, energy_note, NULL, %s, "
            f"imported_at, imported_at FROM {qn(mat.db_table)} WHERE source = %s",
            [scale.SCALE_METHOD, Calculation.Kind.SYNTHETIC, "none (synthetic)", run.pk, Source.SCALE],
        )


def _bulk_create(rows: Iterator[tuple], run: ImportRun, dataset_version: str, progress, batch: int = 2000) -> None:
    constants = _constant_columns(run, dataset_version)
    iterator = iter(rows)
    while chunk := list(islice(iterator, batch)):
        materials = []
        for row in chunk:
            fields = dict(zip(DERIVED, row, strict=True))
            for name in ("structure", "elements", "extra"):
                fields[name] = json.loads(fields[name])
            materials.append(Material(**fields, **constants))
        Material.objects.bulk_create(materials)
        stored = Material.objects.filter(material_id__in=[m.material_id for m in materials]).values_list(
            "pk", "energy_corrected_ev", "e_form_ev_per_atom", "energy_note")
        Calculation.objects.bulk_create([
            Calculation(material_id=pk, method=scale.SCALE_METHOD, kind=Calculation.Kind.SYNTHETIC,
                        energy_corrected_ev=energy, correction_scheme="none (synthetic)", e_form_ev_per_atom=e_form,
                        energy_note=note, import_run=run)
            for pk, energy, e_form, note in stored])
        if progress is not None:
            progress(len(chunk))


def _delete_scale_rows() -> int:
    """Remove every scale material and what hangs on it (in SQL: an ORM delete of 500k rows takes minutes)."""
    count = Material.objects.filter(source=Source.SCALE).count()
    if not count:
        return 0
    qn = connection.ops.quote_name
    mat = Material._meta
    ids = f"SELECT id FROM {qn(mat.db_table)} WHERE source = %s"
    with connection.cursor() as cursor:
        for rel in mat.related_objects:
            table, column = qn(rel.related_model._meta.db_table), qn(rel.field.column)
            if rel.on_delete is models.CASCADE:
                cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({ids})", [Source.SCALE])
            elif rel.on_delete is models.SET_NULL:
                cursor.execute(f"UPDATE {table} SET {column} = NULL WHERE {column} IN ({ids})", [Source.SCALE])
            else:
                raise ScaleError(f"cannot remove scale materials: {rel.related_model.__name__} refers to them")
        cursor.execute(f"DELETE FROM {qn(mat.db_table)} WHERE source = %s", [Source.SCALE])
    return count
