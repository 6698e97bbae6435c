"""Hull services: recompute stored stability (full or incremental) and answer hypothetical queries.

Glue between the catalogue and the pure engine (``hullapi.engine``): load entries, call the
engine, write ``Stability`` rows in transactional batches under a lock that keeps two recomputations
of the same hull set from interleaving their writes.

The reads the REST API and the explorer share sit at the end: the phase diagram of a system and the screens'
documents.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import multiprocessing
import os
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from materials import bulk
from materials.chemsys import subsystems
from materials.importing import references
from materials.models import Material, ScreenRun, Source
from materials.screens import SCREENS

from . import engine
from .models import (
    DISAGREEMENT_EV_PER_ATOM,
    HULL_SET_SOURCES,
    PUBLISHED_COLUMNS,
    HullRun,
    HullSet,
    Stability,
)

WRITE_BATCH = 2000
STABILITY_UPDATE_FIELDS = [
    "is_member", "e_form_ev_per_atom", "e_above_hull_ev_per_atom", "is_stable", "decomposition",
    "phase_separation_ev_per_atom", "published_e_above_hull_ev_per_atom", "published_column", "disagrees",
    "note", "hull_run", "computed_at",
]


@contextlib.contextmanager
def hull_lock(hull_set: str) -> Iterator[None]:
    """Serialise recomputations of one hull set across processes and machines.

    PostgreSQL: a session-level advisory lock. Other databases (the embedded SQLite default, one
    machine): an exclusive file lock in ``var/``.
    """
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"gnome-hull-{hull_set}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    else:
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        with open(settings.VAR_DIR / f"hull-{hull_set}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _published(extra: dict, hull_set: str) -> tuple[float | None, str]:
    published = (extra or {}).get("published") or {}
    for column in PUBLISHED_COLUMNS[hull_set]:
        value = published.get(column)
        if value is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                return number, column
    return None, ""


def hull_workers() -> int:
    """Processes for a recompute: GNOME_HULL_WORKERS (0 = one per core); 1 inside a Celery prefork child,
    which may not start processes of its own."""
    if multiprocessing.current_process().daemon:
        return 1
    configured = settings.GNOME_HULL_WORKERS
    return configured if configured > 0 else (os.cpu_count() or 1)


def recompute(
    hull_set: str,
    chemsys: Iterable[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> HullRun:
    """Recompute the stability of every material against ``hull_set`` (or only of the systems whose
    hull can change when entries of ``chemsys`` arrive). Returns the finished HullRun.

    ``workers`` processes (default ``hull_workers()``) solve the systems of each size in parallel and
    place the non-members; the rows are written in batches as they come, so memory stays bounded by the
    hull itself (the members' energies and their stabilities), not by the number of rows written.
    """
    if hull_set not in HULL_SET_SOURCES:
        raise ValueError(f"unknown hull set {hull_set!r}; choose from {sorted(HULL_SET_SOURCES)}")
    workers = hull_workers() if workers is None else max(1, workers)
    with hull_lock(hull_set):
        close_interrupted(hull_set)
        run = HullRun.objects.create(hull_set=hull_set, scope=sorted(chemsys) if chemsys else [])
        started = time.perf_counter()
        try:
            _recompute(run, chemsys, progress, workers)
            run.status = HullRun.Status.SUCCEEDED
        except BaseException as exc:
            run.status = HullRun.Status.FAILED
            run.error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            run.finished_at = timezone.now()
            run.seconds = time.perf_counter() - started
            run.save()
    return run


INTERRUPTED = "interrupted: the process computing it ended before it finished; a later run rewrote its rows"


def close_interrupted(hull_set: str) -> int:
    """Mark as failed the runs of ``hull_set`` still "running" whose process died (a SIGKILLed worker, a lost
    machine); returns how many. Only safe under ``hull_lock``: holding it, no live run of the set can exist,
    since every run holds the lock to its end and a dead process's lock is released with its connection."""
    return HullRun.objects.filter(hull_set=hull_set, status=HullRun.Status.RUNNING).update(
        status=HullRun.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now())


ROW_FIELDS = ("pk", "material_id", "source", "formula", "energy_corrected_ev", "energy_note", "extra")

# what forked row builders share with the parent (inherited at fork, never pickled)
_row_context: tuple = ()


def _recompute(run: HullRun, chemsys: Iterable[str] | None, progress, workers: int) -> None:
    global _row_context
    hull_set = run.hull_set
    members = HULL_SET_SOURCES[hull_set]
    refs = references()
    materials = Material.objects.all()
    if chemsys:
        # Every stored system containing a new one: members' hulls change there, and non-members are
        # placed against the hull of their own system.
        all_systems = set(Material.objects.values_list("chemsys", flat=True).distinct())
        targets = engine.affected_chemsys(chemsys, all_systems)
        materials = materials.filter(chemsys__in=subsystems(targets))
    else:
        targets = None
    entries = list(materials.filter(source__in=members, energy_corrected_ev__isnull=False)
                   .values_list("material_id", "formula", "energy_corrected_ev"))
    # With a scope, every target system is computed (also those without members of their own), so that
    # the hull of each non-member's system is available to place it.
    result = engine.compute_hull(entries, refs, chemsys=targets, progress=progress, workers=workers)
    del entries
    rows = materials if targets is None else Material.objects.filter(chemsys__in=targets)
    _row_context = (result, set(members), hull_set, run.pk, timezone.now())
    stats = {"entries": 0, "stable": 0, "not_placed": 0, "disagreements": 0}
    try:
        if workers > 1:
            # batches are read here, in this thread (a Pool's feeder thread would use another connection),
            # and at most 2 x workers are in flight
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                pending: deque = deque()
                for batch in _batches(rows):
                    pending.append(pool.apply_async(_stability_rows, (batch,)))
                    if len(pending) >= 2 * workers:
                        _write(pending.popleft().get(), stats)
                while pending:
                    _write(pending.popleft().get(), stats)
        else:
            for batch in _batches(rows):
                _write(_stability_rows(batch), stats)
    finally:
        _row_context = ()
    run.systems = len({s.chemsys for s in result.stability.values()})
    run.entries = stats["entries"]
    run.stable = stats["stable"]
    run.not_placed = stats["not_placed"]
    run.disagreements = stats["disagreements"]
    if stats["entries"] > WRITE_BATCH:
        bulk.refresh_statistics(Stability)
    _index_cache.clear()


def _batches(materials) -> Iterator[list[tuple]]:
    """The rows to write, WRITE_BATCH at a time, read by primary-key ranges (short queries, no cursor held)."""
    last = 0
    while True:
        batch = list(materials.filter(pk__gt=last).order_by("pk").values_list(*ROW_FIELDS)[:WRITE_BATCH])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def _write(out: list[dict], stats: dict) -> None:
    with transaction.atomic():
        bulk.upsert(Stability, out, ["material", "hull_set"], STABILITY_UPDATE_FIELDS)
    stats["entries"] += len(out)
    stats["stable"] += sum(1 for r in out if r["is_stable"])
    stats["not_placed"] += sum(1 for r in out if r["e_above_hull_ev_per_atom"] is None)
    stats["disagreements"] += sum(1 for r in out if r["disagrees"])


def _stability_rows(batch: list[tuple]) -> list[dict]:
    """Stability rows of a batch of materials against the computed hull (pure; runs in forked workers)."""
    result, members, hull_set, run_id, now = _row_context
    out: list[dict] = []
    for pk, material_id, source, formula, energy, energy_note, extra in batch:
        is_member = source in members
        row = {"material": pk, "hull_set": hull_set, "is_member": is_member, "hull_run": run_id, "computed_at": now,
               "e_form_ev_per_atom": None, "e_above_hull_ev_per_atom": None, "is_stable": False,
               "decomposition": [], "phase_separation_ev_per_atom": None, "note": "",
               "published_e_above_hull_ev_per_atom": None, "published_column": "", "disagrees": False}
        stability = result.stability.get(material_id) if is_member else None
        if stability is not None:
            row.update(
                e_form_ev_per_atom=stability.e_form_ev_per_atom,
                e_above_hull_ev_per_atom=stability.e_above_hull_ev_per_atom,
                is_stable=stability.is_stable,
                decomposition=[[i, f] for i, f in stability.decomposition],
                phase_separation_ev_per_atom=stability.phase_separation_ev_per_atom if stability.is_stable else None,
            )
        elif energy is None:
            row["note"] = energy_note or "no energy on the hull's scale"
        elif is_member and material_id in result.not_placed:
            row["note"] = result.not_placed[material_id]
        else:
            try:
                query = result.index.query(formula, energy_ev=energy)
            except ValueError as exc:  # NotPlaceableError included
                row["note"] = str(exc)
            else:
                row.update(
                    e_form_ev_per_atom=query.e_form_ev_per_atom,
                    e_above_hull_ev_per_atom=query.e_above_hull_ev_per_atom,
                    is_stable=query.is_stable,
                    decomposition=[[i, f] for i, f in query.decomposition],
                )
        published, column = _published(extra, hull_set)
        if published is not None:
            row["published_e_above_hull_ev_per_atom"] = published
            row["published_column"] = column
            ours = row["e_above_hull_ev_per_atom"]
            row["disagrees"] = ours is not None and abs(ours - published) > DISAGREEMENT_EV_PER_ATOM
        out.append(row)
    return out


def recompute_for_materials(material_ids: Iterable[str]) -> list[HullRun]:
    """Incremental recompute after new or changed materials: only the systems they can affect."""
    systems = set(Material.objects.filter(material_id__in=list(material_ids)).values_list("chemsys", flat=True))
    if not systems:
        return []
    return [recompute(hull_set, systems) for hull_set in HULL_SET_SOURCES]


# ---- hypothetical entries ------------------------------------------------------------------------

_index_cache: dict[str, tuple[int, engine.HullIndex]] = {}
_index_lock = threading.Lock()


def current_version(hull_set: str) -> int | None:
    return (
        HullRun.objects.filter(hull_set=hull_set, status=HullRun.Status.SUCCEEDED)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )


def hull_index(hull_set: str) -> tuple[int | None, engine.HullIndex]:
    """The query index of the current hull (its stable members), rebuilt when the hull version changes."""
    version = current_version(hull_set)
    cached = _index_cache.get(hull_set)
    if cached is not None and cached[0] == version:
        return cached
    with _index_lock:
        stable = Stability.objects.filter(hull_set=hull_set, is_member=True, is_stable=True).values_list(
            "material__material_id", "material__formula", "material__energy_corrected_ev"
        )
        index = engine.HullIndex(list(stable), references())
        _index_cache[hull_set] = (version, index)
    return version, index


def query_stability(hull_set: str, formula: str, *, energy_ev: float | None = None,
                    energy_ev_per_atom: float | None = None) -> engine.QueryResult:
    """Where a hypothetical entry would stand against the current hull (it is not added)."""
    if hull_set not in HULL_SET_SOURCES:
        raise ValueError(f"unknown hull set {hull_set!r}; choose from {sorted(HULL_SET_SOURCES)}")
    _, index = hull_index(hull_set)
    return index.query(formula, energy_ev=energy_ev, energy_ev_per_atom=energy_ev_per_atom)


# ---- reads shared by the REST API and the explorer ----------------------------------------------------------------

class FigureError(ValueError):
    """A phase diagram that cannot be drawn (an element without a reference energy); the message says why."""


def phase_diagram_figure(system: str, hull: str, highlight: str | None = None) -> dict:
    """The plotly phase diagram (JSON) of ``system`` ("Li-P-S", sorted) on ``hull``: /api/v1/hull/{system}/figure/
    and the explorer's material page; ``highlight`` (a material id) is marked. Raises ``FigureError``."""
    from pymatgen.analysis.phase_diagram import PDEntry, PDPlotter, PhaseDiagram
    from pymatgen.core import Composition

    elements = system.split("-")
    refs = references()
    missing = [e for e in elements if e not in refs]
    if missing:
        raise FigureError(f"no elemental reference for {', '.join(missing)}")
    members = Material.objects.filter(
        chemsys__in=subsystems([system]), source__in=HULL_SET_SOURCES[hull], energy_corrected_ev__isnull=False
    ).values_list("material_id", "formula", "energy_corrected_ev", "source")
    entries = [PDEntry(Composition(el), refs[el], name=el) for el in elements]
    entries += [PDEntry(Composition(formula), energy, name=f"{Composition(formula).reduced_formula} ({mid})")
                for mid, formula, energy, _source in members]
    plotter = PDPlotter(PhaseDiagram(entries), backend="plotly", show_unstable=0.2)
    marked = [e for e in entries if highlight and e.name.endswith(f"({highlight})")]
    figure = plotter.get_plot(highlight_entries=marked or None)
    figure.update_layout(title=f"{system} phase diagram ({hull} hull; {energy_sources([m[3] for m in members])})")
    return figure.to_plotly_json()


def energy_sources(sources) -> str:
    """What the energies of a drawn hull are, from the sources of its phases: DFT for the GNoME and Materials
    Project rows; the "all" hull may also hold discovery energies, which come from a machine-learned potential."""
    counts = Counter(sources)
    parts = [f"{counts[s]} {label}" for s, label in ((Source.DISCOVERY, "from a machine-learned potential "
                                                     "(discovery rounds)"), (Source.SCALE, "synthetic (scale test)"))
             if counts.get(s)]
    dft = sum(n for s, n in counts.items() if s in (Source.GNOME, Source.MP))
    if not parts:
        return "DFT energies, MP2020-compatible"
    return f"MP2020-compatible energies: {dft} DFT, " + ", ".join(parts)


def latest_screen_run(name: str) -> ScreenRun | None:
    """The latest successful run of the screen ``name``."""
    return ScreenRun.objects.filter(screen=name, status=ScreenRun.Status.SUCCEEDED).first()


def screen_run_document(run: ScreenRun | None) -> dict | None:
    if run is None:
        return None
    return {"id": run.pk, "criteria": run.criteria, "stages": run.stages, "summary": run.summary,
            "hull_version": run.hull_version, "finished_at": run.finished_at, "seconds": run.seconds}


def screen_document(name: str) -> dict:
    """One screen (a name of ``materials.screens.SCREENS``) as /api/v1/screens/{name}/ answers it: title, stages,
    default criteria and its latest run's criteria and count at every stage (``latest_run``, None before one)."""
    title, stages, default = SCREENS[name]
    return {"name": name, "title": title, "default_criteria": asdict(default),
            "stages": [{"name": s.name, "description": s.description} for s in stages],
            "latest_run": screen_run_document(latest_screen_run(name))}


def screen_documents() -> list[dict]:
    """Every screen, as ``screen_document``, in the order of ``materials.screens.SCREENS``."""
    return [screen_document(name) for name in SCREENS]


__all__ = ["FigureError", "HullSet", "close_interrupted", "current_version", "energy_sources", "hull_index",
           "hull_lock", "latest_screen_run", "phase_diagram_figure", "query_stability", "recompute",
           "recompute_for_materials", "screen_document", "screen_documents", "screen_run_document", "subsystems"]
