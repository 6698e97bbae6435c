"""MD studies of Li-ion conductivity: Django glue around ``discovery.md`` (pure MD and analysis).

A study holds settings and temperatures; each (material, temperature) is an ``MDRun`` whose files live in
``GNOME_MD_DIR/run-<id>/``. ``run`` is idempotent and resumable: it continues from the run's checkpoint and
only analyses once every step is done. What a material page and the REST API show comes from ``summary``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from materials.models import Material

from .md.analysis import (
    SUPERIONIC_LOG10_MS_CM,
    SUPERIONIC_TEMPERATURE_K,
    AnalysisError,
    arrhenius,
    diffusion,
    frames_needed,
    is_superionic,
)
from .md.simulation import MDError, MDRun, MDSettings, supercell_multiples
from .models import MDRun as MDRunRecord
from .models import MDStudy

POTENTIAL_LABELS = {"chgnet": "CHGNet 0.3.0", "sevennet": "SevenNet-0"}
SPECIE = "Li"
PROGRESS_EVERY = 200  # steps between progress writes


class StudyError(ValueError):
    """A study that cannot be started (the message says why)."""


def method_label(potential: str) -> str:
    return (f"{POTENTIAL_LABELS.get(potential, potential)} molecular dynamics (NVT, Nose-Hoover chain): a "
            "machine-learned potential, not ab initio MD")


def check_study(material_ids: Iterable[str], temperatures_k: Iterable[float] = (1000.0,),
                **overrides) -> tuple[list[Material], list[float], dict]:
    """(materials, temperatures, stored settings) of a study that can run; ``overrides`` are MDSettings fields
    (not the temperature). Writes nothing.

    Raises:
        StudyError: naming every material, temperature or setting that cannot be used.
    """
    ids = list(dict.fromkeys(i.strip() for i in material_ids if i and i.strip()))
    temperatures = sorted({float(t) for t in temperatures_k})
    if not ids:
        raise StudyError("give at least one material id")
    if not temperatures:
        raise StudyError("give at least one temperature")
    if "temperature_k" in overrides:
        raise StudyError("temperatures are given as temperatures_k, not as a setting")
    try:
        settings = MDSettings(**overrides)
        for t in temperatures:
            MDSettings(**{**settings.as_dict(), "temperature_k": t}).check()
    except TypeError as exc:
        raise StudyError(f"unknown setting: {exc}") from None
    except MDError as exc:
        raise StudyError(str(exc)) from None
    materials = {m.material_id: m for m in Material.objects.filter(material_id__in=ids)}
    problems = [f"{i}: no such material" for i in ids if i not in materials]
    problems += [f"{i}: no structure (an energy-only hull phase)" for i in ids
                 if i in materials and materials[i].structure is None]
    problems += [f"{i}: contains no {SPECIE}" for i in ids if i in materials and SPECIE not in materials[i].elements]
    if problems:
        raise StudyError("; ".join(problems))
    # a production too short for the diffusivity fit would fail only at the end: refuse it now
    frame_fs = settings.save_every * settings.timestep_fs
    frames = settings.production_steps // settings.save_every + 1
    for material_id in ids:
        structure = materials[material_id].get_structure()
        multiples = supercell_multiples(structure.lattice.abc, len(structure), settings.min_atoms)
        count = sum(1 for site in structure if site.specie.symbol == SPECIE) * multiples[0] * multiples[1] * multiples[2]
        needed = frames_needed(count, frame_fs)
        if frames < needed:
            problems.append(f"{material_id}: {settings.production_ps:g} ps of production gives {frames} frames; the "
                            f"diffusivity fit needs {needed} with its {count} {SPECIE} atoms (production_ps >= "
                            f"{math.ceil((needed - 1) * frame_fs / 10) / 100:.2f})")
    if problems:
        raise StudyError("; ".join(problems))
    stored = settings.as_dict()
    stored.pop("temperature_k")
    return [materials[i] for i in ids], temperatures, stored


def create_study(material_ids: Iterable[str], temperatures_k: Iterable[float] = (1000.0,), *, name: str = "",
                 user: str = "", **overrides) -> MDStudy:
    """A study of Li-containing crystals (``check_study``), one queued run per material and temperature."""
    materials, temperatures, stored = check_study(material_ids, temperatures_k, **overrides)
    with transaction.atomic():
        study = MDStudy.objects.create(name=name, settings=stored, temperatures_k=temperatures, created_by=user)
        MDRunRecord.objects.bulk_create([
            MDRunRecord(study=study, material=material, temperature_k=t,
                        total_steps=MDSettings(**{**stored, "temperature_k": t}).total_steps)
            for material in materials for t in temperatures])
    return study


def run_directory(run: MDRunRecord) -> Path:
    return Path(django_settings.GNOME_MD_DIR) / f"run-{run.pk}"


def run(run_id: int) -> MDRunRecord:
    """Run (or resume) one MD run to the end and analyse it; a finished run is returned as it is."""
    record = MDRunRecord.objects.select_related("study", "material").get(pk=run_id)
    if record.status == MDStudy.Status.SUCCEEDED:
        return record
    settings = MDSettings(**{**record.study.settings, "temperature_k": record.temperature_k})
    started = time.perf_counter()
    MDRunRecord.objects.filter(pk=run_id).update(status=MDStudy.Status.RUNNING,
                                                 started_at=record.started_at or timezone.now(), error="")
    MDStudy.objects.filter(pk=record.study_id, status=MDStudy.Status.QUEUED).update(status=MDStudy.Status.RUNNING)
    try:
        simulation = MDRun(record.material.get_structure(), settings, run_directory(record))

        def progress(step: int, total: int) -> None:
            if step % PROGRESS_EVERY == 0 or step == total:
                MDRunRecord.objects.filter(pk=run_id).update(step=step)

        MDRunRecord.objects.filter(pk=run_id).update(atoms=len(simulation.supercell), directory=str(simulation.directory))
        simulation.run(progress=progress)
        result = analyse(simulation, settings)
    except (MDError, AnalysisError) as exc:
        _fail(record, str(exc))
        raise
    except Exception as exc:
        _fail(record, f"{type(exc).__name__}: {exc}")
        raise
    MDRunRecord.objects.filter(pk=run_id).update(
        status=MDStudy.Status.SUCCEEDED, step=settings.total_steps, result=result, finished_at=timezone.now(),
        wall_seconds=(record.wall_seconds or 0) + time.perf_counter() - started)
    _finish_study(record.study_id)
    return MDRunRecord.objects.get(pk=run_id)


def analyse(simulation: MDRun, settings: MDSettings) -> dict:
    found = diffusion(simulation.production_structures(), SPECIE, settings.temperature_k,
                      settings.save_every * settings.timestep_fs)
    return {**found.as_dict(), "atoms": len(simulation.supercell), "supercell": list(simulation.multiples),
            "settings": settings.as_dict(), "method": method_label(settings.potential)}


def _fail(record: MDRunRecord, message: str) -> None:
    MDRunRecord.objects.filter(pk=record.pk).update(status=MDStudy.Status.FAILED, error=message[:2000],
                                                    finished_at=timezone.now())
    MDStudy.objects.filter(pk=record.study_id).update(status=MDStudy.Status.FAILED, error=message[:2000])


def _finish_study(study_id: int) -> None:
    runs = MDRunRecord.objects.filter(study_id=study_id)
    if not runs.exclude(status=MDStudy.Status.SUCCEEDED).exists():
        MDStudy.objects.filter(pk=study_id).update(status=MDStudy.Status.SUCCEEDED, finished_at=timezone.now())


def summary(material: Material) -> dict:
    """Every finished MD run of a material with its settings, the superionic verdict at 1000 K, and per study
    with 3+ temperatures an Arrhenius fit (activation energy, conductivity extrapolated to 300 K)."""
    runs = list(material.md_runs.select_related("study").order_by("study_id", "temperature_k"))
    done = [r for r in runs if r.status == MDStudy.Status.SUCCEEDED]
    out: dict = {
        "material_id": material.material_id,
        "specie": SPECIE,
        "superionic_threshold": {"log10_ms_cm": SUPERIONIC_LOG10_MS_CM, "temperature_k": SUPERIONIC_TEMPERATURE_K,
                                 "source": "Merchant et al. 2023 (GNoME), conductivity screen"},
        "runs": [{
            "study": r.study_id, "temperature_k": r.temperature_k, "status": r.status, "step": r.step,
            "total_steps": r.total_steps, "atoms": r.atoms, "error": r.error, "wall_seconds": r.wall_seconds,
            "method": method_label(r.study.settings.get("potential", "chgnet")),
            "settings": {**r.study.settings, "temperature_k": r.temperature_k},
            **({k: r.result[k] for k in ("diffusivity_cm2_s", "diffusivity_std_cm2_s", "conductivity_ms_cm",
                                         "conductivity_std_ms_cm", "time_ps", "frames", "msd_time_ps", "msd_a2")}
               if r.result else {}),
        } for r in runs],
        "verdict": None,
        "arrhenius": [],
    }
    at_1000 = [r for r in done if abs(r.temperature_k - SUPERIONIC_TEMPERATURE_K) < 1e-6]
    if at_1000:
        latest = at_1000[-1]
        sigma = latest.result["conductivity_ms_cm"]
        out["verdict"] = {"superionic": is_superionic(sigma), "conductivity_1000k_ms_cm": sigma,
                          "study": latest.study_id, "method": method_label(latest.study.settings.get("potential", "chgnet"))}
    by_study: dict[int, list[MDRunRecord]] = {}
    for r in done:
        by_study.setdefault(r.study_id, []).append(r)
    for study_id, study_runs in by_study.items():
        if len({r.temperature_k for r in study_runs}) < 3:
            continue
        try:
            fit = arrhenius([r.temperature_k for r in study_runs], [r.result["diffusivity_cm2_s"] for r in study_runs],
                            material.get_structure(), SPECIE)
        except AnalysisError as exc:
            out["arrhenius"].append({"study": study_id, "error": str(exc)})
            continue
        out["arrhenius"].append({"study": study_id, "activation_energy_ev": fit.activation_energy_ev,
                                 "activation_energy_std_ev": fit.activation_energy_std_ev,
                                 "conductivity_300k_ms_cm": fit.conductivity_300k_ms_cm,
                                 "temperatures_k": list(fit.temperatures_k),
                                 "note": "extrapolated from the MD temperatures by an Arrhenius fit of D(T)"})
    return out
