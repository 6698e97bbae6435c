"""Ask the portal about any crystal: the screening ensemble's predicted formation energy, where that puts the crystal
on both hulls, whether the catalogue already holds it, and the known materials it resembles. Also the staff-only
relaxation of an uploaded crystal by the default evaluator, as a background job.

Service functions (Django glue): the REST endpoint (``discovery.predict_api``), the explorer's Predict page, the
Celery task and the tests all call these. ``predict_structure`` writes nothing. Every energy here is a model's:
the GNN ensemble's prediction or the evaluator's (a machine-learned potential by default), labelled with its
method and never called DFT.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from materials.models import Material

from .models import RelaxJob
from .structure_input import InputRejected, ParsedInput, check_predictable, parse_input

__all__ = ["InputRejected", "ParsedInput", "create_relax_job", "known_matches", "parse_input", "predict_structure",
           "relax_job_doc", "run_relax_job", "screening_ensemble"]

PREDICTION_LABEL = "GNoME GNN ensemble: a machine-learned prediction, not a DFT calculation"
MAX_KNOWN_CANDIDATES = 200  # catalogue crystals of one formula compared with StructureMatcher
SIMILAR_K = 5
HULL_SETS = ("all", "mp")


# ---- the ensemble rounds screen with, loaded once per process ---------------------------------------------------

@dataclass(frozen=True)
class Ensemble:
    models: list
    name: str  # "released ensemble" or the checkpoint's name and id
    version: str
    checkpoint_id: int | None
    volumes: object  # TTA volume factors, or None (no TTA)
    fidelity: str | None  # the energy method the members are asked for (None: their default)
    dft_test_mae_ev_per_atom: float | None

    @property
    def tta(self) -> bool:
        return self.volumes is not None


_ensembles: dict[tuple, Ensemble] = {}
_ensembles_lock = threading.Lock()


def screening_ensemble() -> Ensemble:
    """The ensemble discovery rounds screen with (the active checkpoint, else the released one), with the TTA
    setting a round takes by default (``rounds.screening_mode``: as the ensemble was measured to screen better).
    The members are asked for the hull's energy scale (their ``dft`` head, the GNoME PBE/PBE+U formation energies
    the hulls are built from) when they have one. Loaded once per process and checkpoint; a newly activated
    checkpoint is picked up by the next call."""
    from .rounds import DEFAULTS, screening_mode
    from .training import active_checkpoint, ensemble_members

    checkpoint = active_checkpoint("structure")
    key = (checkpoint.pk, checkpoint.path) if checkpoint else ("released",)
    cached = _ensembles.get(key)
    if cached is not None:
        return cached
    with _ensembles_lock:
        if key in _ensembles:
            return _ensembles[key]
        from .gnn.predict import load_model

        paths = ensemble_members(checkpoint)
        if not paths:
            raise RuntimeError("no GNN ensemble to predict with (no released members and no active checkpoint)")
        models = [load_model(p)[0] for p in paths]
        volumes, _screen_fidelity = screening_mode(models, {"tta": None, "evaluator": DEFAULTS["evaluator"]})
        fidelity = "dft" if "dft" in (models[0].config.fidelities or ()) else None
        if checkpoint:
            name, version = f"{checkpoint.name} (checkpoint #{checkpoint.pk})", f"checkpoint #{checkpoint.pk}"
            mae = (checkpoint.metrics or {}).get("test_mae_ensemble_no_tta")
        else:
            name, version, mae = "released ensemble", _released_version(paths), _released_mae()
        _ensembles[key] = Ensemble(models, name, version, checkpoint.pk if checkpoint else None, volumes, fidelity, mae)
        return _ensembles[key]


def _released_version(paths: list[Path]) -> str:
    """"version N" from the model card, with a digest of the member files (what exactly is loaded)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    card = paths[0].parent / "MODEL_CARD.md"
    found = re.search(r"\*\*Version (\d+) \(this release\)", card.read_text()) if card.is_file() else None
    return f"{'version ' + found.group(1) + ', ' if found else ''}sha256 {digest.hexdigest()[:12]}"


def _released_mae() -> float | None:
    from .training import screening_card

    card = screening_card() or {}
    return card.get("dft_test_mae_ev_per_atom")


# ---- the answer ------------------------------------------------------------------------------------------------

def predict_structure(parsed: ParsedInput, *, k_similar: int = SIMILAR_K) -> dict:
    """The answer for a parsed crystal (``parse_input``): the ensemble's prediction, both hulls, the catalogue's
    match and the nearest known structures. Writes nothing.

    Raises:
        InputRejected: an element without an elemental reference, or a crystal the model cannot take (an atom
            with no neighbour within the graph's cutoff).
    """
    from materials.importing import references
    from materials.similarity import similar_to_structure

    from .gnn.featurize import CUTOFF_A
    from .gnn.predict import predict_structures

    started = time.perf_counter()
    structure = parsed.structure
    refs = references()
    check_predictable(structure, refs)
    ensemble = screening_ensemble()
    with torch_threads(settings.GNOME_PREDICT_THREADS):
        [prediction] = predict_structures(ensemble.models, [structure], volumes=ensemble.volumes,
                                          fidelity=ensemble.fidelity)
    if isinstance(prediction, str):
        raise InputRejected("structure", f"the model cannot take this crystal: {prediction} (its graph joins atoms "
                                         f"within {CUTOFF_A} Å)")
    predicted_s = time.perf_counter() - started
    composition = structure.composition
    stability = {hull: hull_placement(composition, prediction.e_form_ev_per_atom, hull, refs) for hull in HULL_SETS}
    known = known_matches(structure)
    similar = [{**row, "url": f"/api/v1/materials/{row['material_id']}/"}
               for row in similar_to_structure(structure, k=k_similar)]
    return {
        "input": {"format": parsed.format, "format_detected": parsed.detected, "formula": composition.reduced_formula,
                  "composition": composition.formula, "chemsys": composition.chemical_system, "nsites": len(structure),
                  "volume_a3": round(float(structure.volume), 6)},
        "prediction": {
            "e_form_ev_per_atom": prediction.e_form_ev_per_atom,
            "iqr_ev_per_atom": prediction.iqr_ev_per_atom,
            "members_ev_per_atom": list(prediction.members),
            "tta": ensemble.tta,
            "tta_volumes": None if ensemble.volumes is None else len(ensemble.volumes),
            "method": PREDICTION_LABEL,
            "model": {"name": ensemble.name, "version": ensemble.version, "checkpoint_id": ensemble.checkpoint_id,
                      "members": len(ensemble.models),
                      "energy_scale": "formation energy from the elemental references, on the scale of the GNoME "
                                      "PBE/PBE+U and Materials Project (MP2020-compatible) energies the hulls are "
                                      "built from; the model learned that scale, it did not compute it",
                      "dft_test_mae_ev_per_atom": ensemble.dft_test_mae_ev_per_atom},
            "seconds": round(predicted_s, 4),
        },
        "stability": stability,
        "known": known,
        "similar": similar,
    }


@contextlib.contextmanager
def torch_threads(n: int):
    """torch on ``n`` threads for the block. One crystal is a small graph: on a loaded machine two threads that wait
    for each other at every step cost seconds where one thread takes tens of milliseconds (benchmarks/predict.py)."""
    import torch

    before = torch.get_num_threads()
    if n < 1 or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def hull_placement(composition, e_form_ev_per_atom: float, hull_set: str, refs) -> dict:
    """Where a crystal of this composition and formation energy stands against the current hull of ``hull_set``
    (not added to it): energy above the hull, stability, decomposition products and how complete the hull of its
    system is."""
    from hullapi.services import hull_index
    from materials.science import energy_from_formation
    from materials.services import formulas, hull_completeness

    version, index = hull_index(hull_set)
    energy_ev = energy_from_formation(e_form_ev_per_atom, composition, refs)
    result = index.query(composition, energy_ev=energy_ev)
    names = formulas(i for i, _ in result.decomposition)
    completeness = (hull_completeness([result.chemsys], hull_set)[result.chemsys]
                    if len(composition.elements) > 1 else None)
    return {"hull_version": version, "e_form_ev_per_atom": result.e_form_ev_per_atom,
            "e_above_hull_ev_per_atom": result.e_above_hull_ev_per_atom, "is_stable": result.is_stable,
            "decomposition": [{"material_id": i, "formula": names.get(i, ""), "fraction": round(f, 10)}
                              for i, f in result.decomposition],
            "hull_completeness": completeness}


def known_matches(structure) -> dict:
    """Catalogue crystals of the same reduced formula that pymatgen's StructureMatcher (default tolerances) finds
    to be this structure."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    formula = structure.composition.reduced_formula
    rows = list(Material.objects.filter(formula_reduced=formula, structure__isnull=False)
                .order_by("material_id").values_list("material_id", "formula_reduced", "source", "structure")
                [:MAX_KNOWN_CANDIDATES])
    matcher = StructureMatcher()
    # StructureMatcher's own reduction (Niggli, then the primitive cell) goes through a cache that compares structures
    # of one composition site by site, O(n^2) per call: reduced here once per structure, it is 10x faster at 100 sites
    mine = _reduced(structure) if rows else None
    matches = [{"material_id": mid, "formula": reduced, "source": source, "url": f"/api/v1/materials/{mid}/"}
               for mid, reduced, source, stored in rows
               if matcher.fit(mine, _reduced(Structure.from_dict(stored)), skip_structure_reduction=True)]
    return {"is_known": bool(matches), "matches": matches, "compared": len(rows),
            "method": f"pymatgen StructureMatcher (ltol {matcher.ltol}, stol {matcher.stol}, angle_tol "
                      f"{matcher.angle_tol}°) against the catalogue crystals of formula {formula}"}


def _reduced(structure):
    """What StructureMatcher compares with its defaults: the Niggli-reduced cell, then its primitive cell."""
    return structure.get_reduced_structure(reduction_algo="niggli").get_primitive_structure()


# ---- the staff relaxation job ----------------------------------------------------------------------------------

def create_relax_job(parsed: ParsedInput, user) -> RelaxJob:
    """A queued relaxation of a parsed crystal by the default evaluator (the caller dispatches the task once the
    row is committed)."""
    from materials.importing import references

    from .rounds import DEFAULTS

    check_predictable(parsed.structure, references())
    composition = parsed.structure.composition
    return RelaxJob.objects.create(structure=parsed.structure.as_dict(), formula_reduced=composition.reduced_formula,
                                   nsites=len(parsed.structure), evaluator=DEFAULTS["evaluator"],
                                   user=user if getattr(user, "pk", None) else None)


def run_relax_job(job_id: int) -> RelaxJob:
    """Relax the job's crystal with its evaluator and store the relaxed energy and its place on both hulls. Claimed
    with a conditional update, so a redelivered task never runs it twice. Nothing enters the catalogue."""
    from pymatgen.core import Structure

    from materials.importing import references
    from materials.science import formation_from_energy

    from .evaluation import EvaluationError, evaluator_named
    from .rounds import DEFAULTS

    claimed = RelaxJob.objects.filter(pk=job_id, status=RelaxJob.Status.QUEUED).update(
        status=RelaxJob.Status.RUNNING, started_at=timezone.now())
    job = RelaxJob.objects.get(pk=job_id)
    if not claimed:
        return job
    evaluator = evaluator_named(job.evaluator, fmax=DEFAULTS["fmax"], max_steps=DEFAULTS["max_steps"])
    try:
        result = evaluator.evaluate(Structure.from_dict(job.structure))
        refs = references()
        composition = result.structure.composition
        e_form = formation_from_energy(result.energy_ev, composition, refs)
        doc = {"method": result.method, "kind": "machine-learned potential, not DFT" if not evaluator.is_dft else "DFT",
               "energy_ev": result.energy_ev, "energy_ev_per_atom": result.energy_ev_per_atom,
               "energy_raw_ev": result.energy_raw_ev, "correction": result.correction,
               "e_form_ev_per_atom": e_form, "converged": result.converged, "steps": result.steps,
               "seconds": round(result.seconds, 2),
               "volume_change": round(result.structure.volume / Structure.from_dict(job.structure).volume - 1, 6),
               "stability": {hull: hull_placement(composition, e_form, hull, refs) for hull in HULL_SETS},
               "relaxed_structure": result.structure.as_dict()}
    except EvaluationError as exc:
        return _finish(job_id, RelaxJob.Status.FAILED, error=str(exc)[:2000], method=evaluator.method)
    except Exception as exc:
        _finish(job_id, RelaxJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], method=evaluator.method)
        raise
    return _finish(job_id, RelaxJob.Status.SUCCEEDED, result=doc, method=result.method)


def _finish(job_id: int, status: str, *, result: dict | None = None, error: str = "", method: str = "") -> RelaxJob:
    with transaction.atomic():
        job = RelaxJob.objects.select_for_update().get(pk=job_id)
        job.status, job.result, job.error = status, result or {}, error
        job.method, job.finished_at = method[:160], timezone.now()
        job.save()
    return job


def relax_job_doc(job: RelaxJob) -> dict:
    return {"id": job.pk, "status": job.status, "formula": job.formula_reduced, "nsites": job.nsites,
            "evaluator": job.method or job.evaluator, "created_at": job.created_at, "started_at": job.started_at,
            "finished_at": job.finished_at, "error": job.error or None, "result": job.result or None,
            "url": f"/api/v1/predict/relax/{job.pk}/"}
