"""Screens and electrochemical windows on the stored catalogue: Django glue around materials.screens
(the funnels) and hullapi.electrochem (the windows)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone
from pymatgen.core import Composition

from materials.models import Material, ScreenResult, ScreenRun
from materials.screens import SCREENS, Criteria, FunnelResult, Record, run_funnel

from . import electrochem
from .models import ElectrochemicalWindow, Stability
from .services import current_version, references, subsystems


def li_fraction(formula: str) -> float:
    """Atomic fraction of Li in a formula ('Li4 Fe4 P4 O16' -> 0.142857...)."""
    return Composition(formula).get_atomic_fraction("Li")


class ScreenError(ValueError):
    pass


def _records(criteria: Criteria) -> list[Record]:
    qs = Material.objects.all()
    if criteria.sources:
        qs = qs.filter(source__in=[s for s in criteria.sources.split(",") if s])
    e_hull = dict(Stability.objects.filter(hull_set=criteria.hull).values_list("material_id", "e_above_hull_ev_per_atom"))
    no_structure = ExpressionWrapper(Q(structure__isnull=True), output_field=BooleanField())
    rows = qs.annotate(no_structure=no_structure).values_list(
        "pk", "material_id", "source", "elements", "formula", "band_gap_ev", "dimensionality", "no_structure")
    return [
        Record(material_id=material_id, source=source, elements=tuple(elements), li_fraction=li_fraction(formula),
               e_above_hull=e_hull.get(pk), band_gap_ev=gap, dimensionality=dim, has_structure=not no_structure)
        for pk, material_id, source, elements, formula, gap, dim, no_structure in rows.iterator(chunk_size=5000)
    ]


def windows(material_ids: Iterable[str], hull_set: str = "all") -> dict[str, ElectrochemicalWindow]:
    """The electrochemical window of each Li-containing material on the current ``hull_set`` hull,
    computed (and stored) where missing or computed on an older hull."""
    version = current_version(hull_set)
    if version is None:
        raise ScreenError(f"the {hull_set!r} hull has not been computed; run recompute_hull first")
    ids = list(material_ids)
    stored = {w.material.material_id: w for w in ElectrochemicalWindow.objects.filter(
        hull_set=hull_set, hull_run_id=version, material__material_id__in=ids).select_related("material")}
    missing = Material.objects.filter(material_id__in=[i for i in ids if i not in stored])
    by_system: dict[str, list[Material]] = defaultdict(list)
    for material in missing.only("pk", "material_id", "formula", "energy_corrected_ev", "chemsys", "energy_note"):
        by_system[material.chemsys].append(material)
    refs = references()
    for system, materials in by_system.items():
        phases = list(Stability.objects.filter(
            hull_set=hull_set, is_stable=True, material__chemsys__in=subsystems([system]),
            material__energy_corrected_ev__isnull=False,
        ).values_list("material__material_id", "material__formula", "material__energy_corrected_ev"))
        for material in materials:
            values = {"hull_run_id": version, "reduction_v": None, "oxidation_v": None, "shifted_ev_per_atom": 0.0,
                      "reduction_products": [], "oxidation_products": [], "note": ""}
            if material.energy_corrected_ev is None:
                values["note"] = material.energy_note or "no energy on the hull's scale"
            else:
                try:
                    window = electrochem.li_window(
                        (material.material_id, material.formula, material.energy_corrected_ev), phases, refs)
                except ValueError as exc:
                    values["note"] = str(exc)[:300]
                else:
                    values.update(reduction_v=window.reduction_v, oxidation_v=window.oxidation_v,
                                  shifted_ev_per_atom=window.shifted_ev_per_atom,
                                  reduction_products=list(window.reduction_products),
                                  oxidation_products=list(window.oxidation_products))
            stored[material.material_id], _ = ElectrochemicalWindow.objects.update_or_create(
                material=material, hull_set=hull_set, defaults=values)
    return stored


def funnel(screen: str, criteria: Criteria | None = None) -> tuple[FunnelResult, Criteria]:
    """Run a screen over the catalogue (nothing stored but the windows it needed)."""
    if screen not in SCREENS:
        raise ScreenError(f"unknown screen {screen!r}; one of {', '.join(SCREENS)}")
    _, stages, default = SCREENS[screen]
    criteria = criteria or default

    def fill_windows(stage: str, records: list[Record]) -> list[Record]:
        if stage != "electrochemical_window" or not records:
            return records
        found = windows([r.material_id for r in records], criteria.hull)
        out = []
        for r in records:
            w = found.get(r.material_id)
            window = (w.reduction_v, w.oxidation_v) if w is not None and w.reduction_v is not None else None
            out.append(replace(r, window=window))
        return out

    return run_funnel(_records(criteria), stages, criteria, before_stage=fill_windows), criteria


def run_screen(screen: str, params: dict | None = None) -> ScreenRun:
    """Run a screen with ``params`` over the defaults, store the run, its stage counts and the outcome of
    every material past the first stage (replacing the previous run's outcomes; runs are kept)."""
    if screen not in SCREENS:
        raise ScreenError(f"unknown screen {screen!r}; one of {', '.join(SCREENS)}")
    try:
        criteria = Criteria.from_params(params or {}, SCREENS[screen][2])
    except ValueError as exc:
        raise ScreenError(str(exc)) from None
    start = time.perf_counter()
    run = ScreenRun.objects.create(screen=screen, criteria=criteria.__dict__, hull_version=current_version(criteria.hull))
    try:
        result, _ = funnel(screen, criteria)
        first = result.stages[0].name
        keep = [o for o in result.outcomes.values() if o.stages.get(first, {}).get("result") != "fail"]
        pks = dict(Material.objects.filter(material_id__in=[o.material_id for o in keep]).values_list("material_id", "pk"))
        with transaction.atomic():
            ScreenResult.objects.filter(run__screen=screen).delete()
            ScreenResult.objects.bulk_create(
                [ScreenResult(run=run, material_id=pks[o.material_id], outcome=o.outcome, failed_stage=o.failed_stage,
                              stages=[{"stage": name, **v} for name, v in o.stages.items()]) for o in keep],
                batch_size=2000)
            run.stages = result.counts()
            run.summary = result.summary()
            run.status = ScreenRun.Status.SUCCEEDED
            run.finished_at = timezone.now()
            run.seconds = time.perf_counter() - start
            run.save()
    except Exception as exc:
        run.status, run.error, run.finished_at = ScreenRun.Status.FAILED, str(exc)[:2000], timezone.now()
        run.save()
        raise
    return run
