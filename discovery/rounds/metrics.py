"""What a round found: hit rate, prevalence, discovery acceleration factor and the new stable materials."""

from __future__ import annotations

import time

from hullapi.engine import is_stable_energy

from ..models import Candidate, DiscoveryRound
from .state import Stage, is_done, mark

__all__ = ["measure"]


def measure(round_id: int) -> dict:
    """Hit rate (stable / evaluated, the model's arm), prevalence (the same in the control arm), discovery
    acceleration factor (their ratio), each with its 95 % interval (Wilson; Katz's log interval for the DAF), the
    ensemble's MAE on the evaluated structures, the new stable materials."""
    from hullapi.models import Stability

    rnd = DiscoveryRound.objects.get(pk=round_id)
    if is_done(rnd, Stage.MEASURED):  # judged once, against the hull right after the round (not a later one)
        return rnd.metrics
    started = time.perf_counter()
    evaluated = list(Candidate.objects.filter(round_id=round_id, evaluation="done").select_related("material"))
    stability = {s.material_id: s for s in Stability.objects.filter(
        hull_set="all", material_id__in=[c.material_id for c in evaluated if c.material_id])}
    arms: dict[str, list[bool]] = {"filtered": [], "control": []}
    complete_arms: dict[str, list[bool]] = {"filtered": [], "control": []}  # systems with complete binary hulls
    errors, new_stable = [], []
    for c in evaluated:
        s = stability.get(c.material_id)
        c.e_above_hull_ev_per_atom = s.e_above_hull_ev_per_atom if s else None
        c.is_stable = bool(s) and is_stable_energy(s.e_above_hull_ev_per_atom)
        arms[c.arm].append(c.is_stable)
        if (c.hull_completeness or {}).get("complete"):
            complete_arms[c.arm].append(c.is_stable)
        if c.e_form_pred_ev_per_atom is not None and c.e_form_ev_per_atom is not None:
            errors.append(abs(c.e_form_pred_ev_per_atom - c.e_form_ev_per_atom))
        if c.is_stable and c.material:
            new_stable.append({"material_id": c.material.material_id, "formula": c.formula_reduced, "arm": c.arm,
                               "e_above_hull_ev_per_atom": c.e_above_hull_ev_per_atom,
                               "hull_completeness": c.hull_completeness or None})
    Candidate.objects.bulk_update(evaluated, ["e_above_hull_ev_per_atom", "is_stable"])

    def rate(values):
        return sum(values) / len(values) if values else None

    from ..screening import mean_ci95, ratio_ci95, wilson

    def arm_figures(by_arm: dict[str, list[bool]]) -> dict:
        hit, base = rate(by_arm["filtered"]), rate(by_arm["control"])
        figures = {"hit_rate": hit, "prevalence": base, "daf": hit / base if hit is not None and base else None}
        for arm in ("filtered", "control"):
            figures[f"stable_{arm}"], figures[f"evaluated_{arm}"] = sum(by_arm[arm]), len(by_arm[arm])
        figures["hit_rate_ci95"] = wilson(figures["stable_filtered"], figures["evaluated_filtered"])
        figures["prevalence_ci95"] = wilson(figures["stable_control"], figures["evaluated_control"])
        figures["daf_ci95"] = ratio_ci95(figures["stable_filtered"], figures["evaluated_filtered"],
                                         figures["stable_control"], figures["evaluated_control"])
        return figures

    metrics = {
        **arm_figures(arms),
        # the same, only over candidates whose systems had every binary subsystem holding a compound when judged
        "complete_hulls": {
            **arm_figures(complete_arms),
            "definition": "every binary subsystem of the candidate's system held a compound on the 'all' hull "
                          "when the candidate was screened",
        },
        # the screening model's error on what it screened, before any retraining on these candidates
        "ensemble_mae_ev_per_atom": sum(errors) / len(errors) if errors else None,
        "ensemble_mae_ci95": mean_ci95(errors), "ensemble_mae_n": len(errors),
        "new_stable": sorted(new_stable, key=lambda x: x["material_id"]),
        "new_stable_compositions": sorted({x["formula"] for x in new_stable}),
        "energies": f"evaluated with {rnd.config['evaluator']} (a machine-learned potential, not DFT)",
    }
    mark(round_id, Stage.MEASURED, time.perf_counter() - started, progress="metrics recorded", metrics=metrics)
    return metrics
