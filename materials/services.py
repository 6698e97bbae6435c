"""Batch jobs over the stored catalogue (Django glue around the pure science modules), and the reads the REST API
and the explorer share: one page of a search (``search_materials``) and one material's record
(``material_document``)."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from tqdm import tqdm

from . import counting
from . import query as catalogue_query
from .chemsys import normalise_chemsys, subsystems_of
from .dimensionality import UNDETERMINED, label_item
from .fingerprint import FINGERPRINT_VERSION, fingerprint_item, stored_fingerprint
from .importing import store_fingerprints, worker_count
from .models import Licence, Material, Source

BATCH = 1000


def _structures(only_missing: bool, ids: list[str] | None, missing: Q | None = None
                ) -> tuple[int, Iterator[list[tuple[int, dict]]]]:
    qs = Material.objects.filter(structure__isnull=False)
    if only_missing:
        qs = qs.filter(missing if missing is not None else Q(dimensionality=""))
    if ids is not None:
        qs = qs.filter(material_id__in=ids)
    keys = list(qs.order_by("pk").values_list("pk", flat=True))

    def batches():
        for start in range(0, len(keys), BATCH):
            chunk = keys[start:start + BATCH]
            yield list(Material.objects.filter(pk__in=chunk).order_by("pk").values_list("pk", "structure"))

    return len(keys), batches()


def compute_dimensionality(*, only_missing: bool = True, ids: list[str] | None = None, workers: int | None = None,
                           progress: bool = False, on_progress: Callable[[int, int], None] | None = None) -> Counter:
    """Cheon dimensionality (0.45 Å) of every material with a structure, in parallel, stored per batch.

    ``only_missing`` skips materials that already have one (re-runs resume where a run stopped); a
    structure the algorithm cannot classify is stored as 'undetermined'. Returns the count per label.
    """
    total, batches = _structures(only_missing, ids)
    workers = workers or worker_count()
    counts: Counter = Counter()
    bar = tqdm(total=total, desc="dimensionality", unit="structure", disable=not progress, mininterval=1.0)
    pool = None
    if workers > 1 and total > 50:
        context = multiprocessing.get_context("forkserver")  # workers import the pure module only, not Django
        context.set_forkserver_preload(["materials.dimensionality"])
        pool = context.Pool(workers)
    done = 0
    try:
        for batch in batches:
            results = pool.map(label_item, batch, chunksize=25) if pool else [label_item(item) for item in batch]
            labels = {pk: label or UNDETERMINED for pk, label, _ in results}
            with transaction.atomic():
                for label in set(labels.values()):
                    Material.objects.filter(pk__in=[pk for pk, lab in labels.items() if lab == label]).update(
                        dimensionality=label)
            counts.update(labels.values())
            done += len(batch)
            bar.update(len(batch))
            if on_progress:
                on_progress(done, total)
    finally:
        bar.close()
        if pool:
            pool.close()
            pool.join()
    return counts


def compute_fingerprints(*, only_missing: bool = True, ids: list[str] | None = None, workers: int | None = None,
                         progress: bool = False) -> dict:
    """The structure fingerprint (``materials.fingerprint``) of every material with a structure, in parallel,
    stored per batch in its own transaction (an interrupted run keeps what it finished; the next resumes).

    ``only_missing`` skips materials whose fingerprint is of the current version. Returns
    ``{"computed": n, "failed": n, "failures": [(material id, reason), ...]}`` (the first 20 failures).
    """
    missing = ~Q(fingerprint__version=FINGERPRINT_VERSION)  # none, or of another version
    total, batches = _structures(only_missing, ids, missing)
    workers = workers or worker_count()
    summary: dict = {"computed": 0, "failed": 0, "failures": []}
    bar = tqdm(total=total, desc="fingerprints", unit="structure", disable=not progress, mininterval=1.0)
    pool = None
    if workers > 1 and total > 200:
        context = multiprocessing.get_context("forkserver")  # workers import the pure module only, not Django
        context.set_forkserver_preload(["materials.fingerprint"])
        pool = context.Pool(workers)
    try:
        for batch in batches:
            results = pool.map(fingerprint_item, batch, chunksize=50) if pool else [fingerprint_item(i) for i in batch]
            with transaction.atomic():
                store_fingerprints({pk: vector for pk, vector, _ in results})
            failed = [(pk, reason) for pk, vector, reason in results if vector is None]
            summary["computed"] += len(results) - len(failed)
            summary["failed"] += len(failed)
            if failed and len(summary["failures"]) < 20:
                names = dict(Material.objects.filter(pk__in=[pk for pk, _ in failed]).values_list("pk", "material_id"))
                summary["failures"].extend((names.get(pk, str(pk)), reason) for pk, reason in failed)
                del summary["failures"][20:]
            bar.update(len(batch))
    finally:
        bar.close()
        if pool:
            pool.close()
            pool.join()
    return summary


def store_fingerprint(material: Material) -> None:
    """Fingerprint one material saved on its own (``Material.objects.create``, the admin, a discovery round's
    ingest; imports write theirs in bulk): called on ``post_save``, in the saver's transaction. A material
    without a structure, or one that cannot be fingerprinted, keeps none."""
    vector = None if material.structure is None else stored_fingerprint(material.structure)[0]
    store_fingerprints({material.pk: vector})


def hull_completeness(chemsys: Iterable[str], hull_set: str = "all", *,
                      exclude_material_ids: Iterable[str] = ()) -> dict[str, dict]:
    """``science.hull_completeness`` of each chemical system against the current hull of ``hull_set``: a binary
    counts as covered when it holds a compound among the phases that build this hull (``exclude_material_ids``
    left out, e.g. the material being judged). One query per 2,000 binaries of all the systems."""
    from .science import hull_completeness as completeness

    systems = {s: normalise_chemsys(s) for s in chemsys}
    binaries = sorted({pair for s in systems.values() for pair in subsystems_of(s, sizes=(2,))})
    covered: set[str] = set()
    for start in range(0, len(binaries), 2000):
        covered |= set(Material.objects.filter(chemsys__in=binaries[start:start + 2000],
                                               stabilities__hull_set=hull_set, stabilities__is_member=True)
                       .exclude(material_id__in=list(exclude_material_ids))
                       .values_list("chemsys", flat=True).distinct())
    return {original: completeness(s, covered) for original, s in systems.items()}


REFERENCE_PREFIX = "ref:"  # a decomposition's elemental reference without an entry of its own: "ref:Li"


def formulas(material_ids: Iterable[str]) -> dict[str, str]:
    """The reduced formula of each id (a decomposition's products): one query; a reference ``ref:Li`` is ``Li``,
    an unknown id is left out."""
    ids = set(material_ids)
    found = {i: i.removeprefix(REFERENCE_PREFIX) for i in ids if i.startswith(REFERENCE_PREFIX)}
    if ids - found.keys():
        found.update(Material.objects.filter(material_id__in=ids - found.keys())
                     .values_list("material_id", "formula_reduced"))
    return found


# ---- reads shared by the REST API and the explorer ----------------------------------------------------------------

QueryError = catalogue_query.QueryError
SOURCES: list[tuple[str, str]] = list(Source.choices)  # (value, label) of every source the search accepts
LICENCES: dict[str, str] = dict(Licence.choices)
CRYSTAL_SYSTEMS = catalogue_query.CRYSTAL_SYSTEMS
CITATIONS = {
    "CC-BY-NC-4.0": "GNoME: Merchant et al., Nature 624, 80-85 (2023); non-commercial use only",
    "CC-BY-4.0": "Materials Project (CC BY 4.0)",
}


@dataclass(frozen=True)
class MaterialPage:
    """One page of a catalogue search."""

    query: catalogue_query.MaterialQuery  # as parsed; ``page`` is the page shown
    rows: list[dict]  # ``values()`` rows, with the sort path and material_id (for the next cursor)
    documents: list[dict]  # the rows as the API shows them: the query's fields
    total: counting.Total


def search_materials(params: Mapping, *, last_page_past_end: bool = False) -> MaterialPage:
    """One page of a search with Materials Project parameters (``materials.query``) and its total
    (``materials.counting``): what /api/v1/materials/ answers and what the explorer's search table shows.

    ``last_page_past_end``: a page number past the last page shows the last page (the explorer, whose URLs are
    shared while the catalogue changes); otherwise such a page is empty. Raises ``QueryError`` naming the first
    bad parameter.
    """
    query = catalogue_query.parse(params)
    qs = query.queryset()
    found = None
    if last_page_past_end and query.after is None:
        found = counting.total(qs)
        query.page = min(query.page, max(1, -(-found.count // query.per_page)))
    paths = sorted({*catalogue_query.value_paths(query.fields), query.sort_path, "material_id"})
    rows = query.page_rows(paths, qs)
    first = query.after is None and query.page == 1
    total = (counting.counted(qs, first, len(rows), query.per_page) if found is None
             else counting.settled(found, first, len(rows), query.per_page))
    return MaterialPage(query, rows, [catalogue_query.document(row, query.fields) for row in rows], total)


def material_document(material_id: str, params: Mapping | None = None) -> dict | None:
    """One material as /api/v1/materials/{id}/ answers it and the explorer's material page shows it: every search
    field, its structure (pymatgen dict, or None for an energy-only hull phase), its energy records, its stability
    on each hull set with how complete that hull's binaries are, its electrochemical windows and screen outcomes.

    ``params``: further search parameters (``hull`` chooses the hull set of the stability fields; a dict or a
    QueryDict). None when the catalogue holds no such material; raises ``QueryError`` for a bad parameter.
    """
    material = (Material.objects.prefetch_related("calculations", "stabilities", "windows")
                .filter(material_id=material_id).first())
    if material is None:
        return None
    params = {} if params is None else params.copy()
    params["material_ids"] = material_id
    params["_all_fields"] = "true"
    query = catalogue_query.parse(params)
    row = query.queryset().values(*catalogue_query.value_paths(query.fields)).get()
    doc = catalogue_query.document(row, query.fields)
    completeness = {hs: hull_completeness([material.chemsys], hs, exclude_material_ids=[material.material_id])
                    [material.chemsys] for hs in {s.hull_set for s in material.stabilities.all()}}
    doc.update(
        structure=material.structure,
        citation=CITATIONS.get(material.licence, ""),
        calculations=[
            {"method": c.method, "kind": c.kind, "energy_ev": c.energy_ev, "energy_corrected_ev": c.energy_corrected_ev,
             "correction_ev": c.correction_ev, "correction_scheme": c.correction_scheme,
             "e_form_ev_per_atom": c.e_form_ev_per_atom, "note": c.energy_note}
            for c in material.calculations.all()
        ],
        stability={
            s.hull_set: {"is_member": s.is_member, "energy_above_hull": s.e_above_hull_ev_per_atom,
                         "is_stable": s.is_stable, "decomposes_to": s.decomposition,
                         "phase_separation_energy_per_atom": s.phase_separation_ev_per_atom,
                         "published_energy_above_hull": s.published_e_above_hull_ev_per_atom,
                         "published_column": s.published_column, "disagrees_with_published": s.disagrees,
                         "note": s.note, "hull_version": s.hull_run_id,
                         # which binary subsystems hold a compound of this hull besides this material: a
                         # "stable" in a system whose binaries hold only elements is stable against the elements
                         "hull_completeness": completeness[s.hull_set]}
            for s in material.stabilities.all()
        },
        judged_hull_completeness=material.extra.get("hull_completeness"),
        published=material.extra.get("published", {}),
        dimensionality_method=("Cheon et al. 2017, tolerance 0.45 Å (pymatgen algorithm)"
                               if material.dimensionality else ""),
        electrochemical_windows={
            w.hull_set: {"reduction_v": w.reduction_v, "oxidation_v": w.oxidation_v,
                         "shifted_ev_per_atom": w.shifted_ev_per_atom, "reduction_products": w.reduction_products,
                         "oxidation_products": w.oxidation_products, "note": w.note, "hull_version": w.hull_run_id,
                         "unit": "V vs Li/Li+"}
            for w in material.windows.all()
        },
        screens={r.run.screen: {"outcome": r.outcome, "failed_stage": r.failed_stage, "run": r.run_id,
                                "stages": r.stages}
                 for r in material.screen_results.select_related("run")},
    )
    return doc


def similar_materials(material_id: str, k: int = 5) -> list[dict]:
    """The ``k`` catalogue materials nearest to this one by structure fingerprint (``materials.similarity``, as
    /api/v1/materials/{id}/similar/ answers); raises ``similarity.UnknownMaterial`` for an unknown id."""
    from .similarity import similar_to_material

    return similar_to_material(material_id, k)
