"""Reads of the discovery app shared by its REST API and the explorer: rounds and their candidates as the API
documents them, a material's MD conductivity, the screening model's card, and predictions for a pasted crystal.

Energies of candidates are the GNN ensemble's predictions and the evaluator's (a machine-learned potential by
default): each document labels them with the method that made them, none is DFT.
"""

from __future__ import annotations

from . import rounds
from .models import Candidate, DiscoveryRound
from .predicting import InputRejected, parse_input, predict_structure
from .structure_input import MAX_BYTES, MAX_SITES

__all__ = [
    "ARMS", "CONFIG_KEYS", "EVALUATION_DONE", "EVALUATION_FAILED", "MAX_BYTES", "MAX_ROUNDS", "MAX_SITES", "STAGES",
    "InputRejected", "arm_label", "campaign_document", "campaign_documents", "candidate_doc", "conductivity_summary",
    "evaluator_label", "metrics_pending",
    "parse_input", "predict_structure", "round_doc", "round_document", "round_documents", "round_with_candidates",
    "screening_card", "stage_label", "status_label",
]

MAX_ROUNDS = 200  # the newest rounds a list shows
STAGES: list[str] = [str(s) for s in rounds.ORDER]  # in the order a round goes through them
CONFIG_KEYS: tuple[str, ...] = tuple(rounds.DEFAULTS)  # a round's settings, in their documented order
ARMS: list[tuple[str, str]] = [(a.value, a.label) for a in (Candidate.Arm.FILTERED, Candidate.Arm.CONTROL)]
EVALUATION_DONE, EVALUATION_FAILED = Candidate.Evaluation.DONE.value, Candidate.Evaluation.FAILED.value


def _label(choices, value: str) -> str:
    try:
        return choices(value).label
    except ValueError:
        return value or "—"


def stage_label(value: str) -> str:
    return _label(DiscoveryRound.Stage, value)


def status_label(value: str) -> str:
    return _label(DiscoveryRound.Status, value)


def arm_label(value: str) -> str:
    return _label(Candidate.Arm, value)


def metrics_pending(stage: str) -> bool:
    """Whether a round at ``stage`` has yet to measure its metrics (hit rate, new stable materials)."""
    stage = stage if stage in STAGES else DiscoveryRound.Stage.CREATED
    return STAGES.index(stage) < STAGES.index(DiscoveryRound.Stage.MEASURED)


def round_doc(rnd: DiscoveryRound, full: bool = False) -> dict:
    doc = {
        "id": rnd.pk, "name": rnd.name, "status": rnd.status, "stage": rnd.stage, "progress": rnd.progress,
        "counts": rnd.counts, "hit_rate": rnd.metrics.get("hit_rate"), "prevalence": rnd.metrics.get("prevalence"),
        "daf": rnd.metrics.get("daf"), "created_at": rnd.created_at, "started_at": rnd.started_at,
        "finished_at": rnd.finished_at,
    }
    if full:
        doc.update(config=rnd.config, metrics=rnd.metrics, timings={k: v for k, v in rnd.timings.items()
                                                                     if not k.startswith("_")},
                   error=rnd.error, screened_with=rnd.checkpoint.name if rnd.checkpoint else "released GNN ensemble",
                   energies={"predicted": "GNoME GNN ensemble (machine-learned, median of members over 20 volumes)",
                             "evaluated": f"{rnd.config.get('evaluator')} relaxation (machine-learned potential, "
                                          "not DFT)"})
    return doc


def candidate_doc(c: Candidate) -> dict:
    return {
        "id": c.pk, "key": c.key, "formula": c.formula_reduced, "method": c.method, "parent": c.parent,
        "detail": c.detail, "arm": c.arm or None,
        "predicted": {"e_form_ev_per_atom": c.e_form_pred_ev_per_atom, "iqr_ev_per_atom": c.e_form_iqr_ev_per_atom,
                      "e_above_hull_ev_per_atom": c.e_above_hull_pred_ev_per_atom,
                      "method": "GNN ensemble (machine-learned; TTA as the round's config says)",
                      "error": c.screen_error or None},
        # when it was screened: which binaries of its system held a compound on the "all" hull
        "hull_completeness": c.hull_completeness or None,
        "evaluated": None if not c.evaluation else {
            "status": c.evaluation, "method": c.evaluator, "e_form_ev_per_atom": c.e_form_ev_per_atom,
            "e_above_hull_ev_per_atom": c.e_above_hull_ev_per_atom, "is_stable": c.is_stable,
            "material_id": c.material.material_id if c.material_id else None,
            "detail": c.evaluation_detail},
    }


def round_documents(limit: int = MAX_ROUNDS, *, full: bool = False) -> list[dict]:
    """The newest rounds, newest first, as /api/v1/discovery/ lists them (``full``: as one round's record)."""
    qs = DiscoveryRound.objects.select_related("checkpoint") if full else DiscoveryRound.objects.all()
    return [round_doc(r, full=full) for r in qs[:limit]]


def round_document(round_id: int) -> dict | None:
    """One round's full record (configuration, stage, counts, timings, metrics, new stable materials), as
    /api/v1/discovery/{id}/ answers it; None when there is no such round."""
    rnd = DiscoveryRound.objects.select_related("checkpoint").filter(pk=round_id).first()
    return None if rnd is None else round_doc(rnd, full=True)


def round_with_candidates(round_id: int) -> dict | None:
    """``{"round": its full record, "created_by": who started it, "candidates": its evaluated candidates}`` (the
    candidates as /api/v1/discovery/{id}/candidates/ documents them, in order); None when there is no such round."""
    rnd = DiscoveryRound.objects.select_related("checkpoint").filter(pk=round_id).first()
    if rnd is None:
        return None
    evaluated = (Candidate.objects.filter(round=rnd).exclude(evaluation=Candidate.Evaluation.NONE)
                 .select_related("material").order_by("pk"))
    return {"round": round_doc(rnd, full=True), "created_by": rnd.created_by,
            "candidates": [candidate_doc(c) for c in evaluated]}


def campaign_documents(limit: int = MAX_ROUNDS) -> list[dict]:
    """The newest campaigns, newest first, each as /api/v1/discovery/campaigns/{id}/ documents it."""
    from .campaigns import campaign_doc
    from .models import Campaign

    return [campaign_doc(c) for c in Campaign.objects.select_related("base_checkpoint", "current_checkpoint")[:limit]]


def campaign_document(campaign_id: int) -> dict | None:
    """One campaign with its rounds' figures and its scaling points; None when there is no such campaign."""
    from .campaigns import campaign_doc
    from .models import Campaign

    campaign = (Campaign.objects.select_related("base_checkpoint", "current_checkpoint").filter(pk=campaign_id)
                .first())
    return None if campaign is None else campaign_doc(campaign)


def evaluator_label(name: str) -> str:
    """The label of the evaluator a round's configuration names ("chgnet" -> "CHGNet 0.3.0"); raises ValueError
    for an unknown name."""
    from .evaluation import evaluator_named

    return evaluator_named(name).label


def conductivity_summary(material_id: str) -> dict | None:
    """A material's Li-ion conductivity from machine-learned MD (``discovery.conductivity.summary``), as
    /api/v1/materials/{id}/conductivity/ answers it; None when the catalogue has no such material."""
    from materials.models import Material

    from .conductivity import summary

    material = Material.objects.only("pk", "material_id", "structure").filter(material_id=material_id).first()
    return None if material is None else summary(material)


def screening_card() -> dict | None:
    """What the ensemble rounds screen with does on unrelaxed candidates (``discovery.training.screening_card``)."""
    from .training import screening_card as card

    return card()
