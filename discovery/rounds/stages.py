"""The stage functions of a round, each idempotent: it returns at once when the round has finished it, and its
work skips what is done already (see discovery.rounds). Django glue around the pure science."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from materials.models import Calculation, Licence, Material, Source

from ..models import Candidate, DiscoveryRound
from .config import RoundConfig, RoundError
from .state import Stage, check_cancel, is_done, mark, set_progress

__all__ = ["DISCOVERY_DATASET", "DISCOVERY_LICENCE", "evaluate", "evaluate_chunks", "finish_evaluation",
           "finish_screening", "generate", "ingest", "material_id_of", "retrain", "screen", "screen_chunks",
           "screening_mode", "select", "update_hull"]

DISCOVERY_DATASET = "GNoME Explorer discovery rounds"
DISCOVERY_LICENCE = Licence.CC_BY_NC_4  # derived from GNoME seeds and a model trained on CC BY-NC data


def generate(round_id: int, progress: Callable[[int, int], None] | None = None) -> int:
    """Generate up to the candidate budget (novel compositions, no exact duplicates) and store them; ``progress``
    is told (candidates made so far, the budget) as they come, and (stored, stored) at the end."""
    from ..generating import generate as raw_stream
    from ..generating import known_formulas, seed_materials
    from ..generation.streams import StreamStats, pipeline

    rnd = DiscoveryRound.objects.get(pk=round_id)
    if is_done(rnd, Stage.GENERATED):
        return rnd.counts.get("generated", 0)
    started = time.perf_counter()
    DiscoveryRound.objects.filter(pk=round_id).update(status=DiscoveryRound.Status.RUNNING, started_at=timezone.now(),
                                                      progress="generating")
    c = RoundConfig.stored(rnd.config)
    seeds = seed_materials(material_ids=c.seeds, chemsys=c.chemsys, max_seeds=c.max_seeds)
    if not seeds:
        raise RoundError(f"no seed crystals in {c.chemsys or c.seeds}")
    skipped: dict[str, str] = {}
    if progress:
        progress(0, c.candidate_budget)

    def mixed():
        # the generators take turns seed by seed, so that a budget smaller than the supply samples all of them
        per_generator = []
        for method in c.generators:
            options = {"max_per_seed": c.saps_max_per_seed} if method == "saps" else {}
            options.update(volume=c.volume, allow_elements=c.allow_elements or ())
            if method != "neighbour":
                options["sign_change"] = c.sign_change
            per_generator.append(raw_stream(method, seeds=seeds, options=options, on_skip=skipped.__setitem__))
        while per_generator:
            for stream in list(per_generator):
                chunk = [x for _, x in zip(range(50), stream, strict=False)]
                if not chunk:
                    per_generator.remove(stream)
                yield from chunk

    stats = StreamStats()
    stream = pipeline(mixed(), known_formulas=known_formulas(), dedup="structure" if c.cluster else "exact",
                      limit=c.candidate_budget, stats=stats)
    batch, stored = [], 0
    for candidate in stream:
        batch.append(Candidate(
            round_id=round_id, key=candidate.key, method=candidate.method, parent=candidate.parent,
            detail=candidate.detail, formula_reduced=candidate.reduced_formula,
            chemsys=candidate.composition.chemical_system, nsites=len(candidate.species),
            structure=candidate.structure.as_dict()))
        if progress and len(batch) % 100 == 0:
            progress(stored + len(batch), c.candidate_budget)
        if len(batch) >= 1000:
            stored += _store_candidates(batch)
            batch = []
            set_progress(round_id, f"generating: {stored} candidates")
    stored += _store_candidates(batch)
    total = Candidate.objects.filter(round_id=round_id).count()
    if progress:
        progress(total, total)
    mark(round_id, Stage.GENERATED, time.perf_counter() - started, progress=f"{total} candidates generated",
         counts={"seeds": len(seeds), "seeds_skipped": len(skipped), "generated": total,
                 "known_composition_dropped": stats.known_composition, "duplicates_dropped": stats.exact_duplicate
                 + stats.structural_duplicate, "by_method": stats.by_method})
    return total


def _store_candidates(batch: list[Candidate]) -> int:
    if not batch:
        return 0
    with transaction.atomic():
        Candidate.objects.bulk_create(batch, ignore_conflicts=True, batch_size=500)
    return len(batch)


def screen_chunks(round_id: int) -> list[list[int]]:
    """Ids of the candidates still to screen, in chunks of the round's ``screen_chunk``."""
    rnd = DiscoveryRound.objects.get(pk=round_id)
    ids = list(Candidate.objects.filter(round_id=round_id, screened=False).order_by("pk").values_list("pk", flat=True))
    size = RoundConfig.stored(rnd.config).screen_chunk
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _ensemble(rnd: DiscoveryRound):
    from ..gnn.__main__ import released_members
    from ..gnn.predict import load_model

    members = sorted(Path(rnd.checkpoint.path).glob("member-*.pt")) if rnd.checkpoint else released_members()
    if not members:
        raise RoundError("no GNN ensemble to screen with (no released members and no checkpoint)")
    return [load_model(m, precision=RoundConfig.stored(rnd.config).precision)[0] for m in members]


_models_cache: dict[tuple, list] = {}


def screening_mode(models, config: RoundConfig | dict) -> tuple:
    """(TTA volumes or None, fidelity) a round screens with: TTA as the round says, else as the ensemble was
    measured to screen better (``screen_tta`` in its config; on for ensembles that never measured it); the
    round's evaluator as the fidelity when the ensemble knows it, else its own default. ``config`` may be a
    stored configuration (a dict; missing settings take their defaults)."""
    from ..evaluation import evaluator_named
    from ..gnn.featurize import TTA_VOLUMES

    if isinstance(config, dict):
        config = RoundConfig.stored(config)
    tta = config.tta
    if tta is None:
        tta = models[0].config.extra.get("screen_tta", True)
    name = evaluator_named(config.evaluator).name
    fidelity = name if name in (models[0].config.fidelities or ()) else None
    return (TTA_VOLUMES if tta else None), fidelity


def screen(round_id: int, candidate_ids: Iterable[int]) -> int:
    """Ensemble + TTA prediction and predicted decomposition energy against the current "all" hull, for the
    given candidates not yet screened. Returns how many it screened."""
    from pymatgen.core import Structure

    from materials.services import hull_completeness

    from ..generating import hull_placer
    from ..gnn.predict import predict_structures

    rnd = DiscoveryRound.objects.select_related("checkpoint").get(pk=round_id)
    todo = list(Candidate.objects.filter(round_id=round_id, pk__in=list(candidate_ids), screened=False))
    if not todo:
        return 0
    config = RoundConfig.stored(rnd.config)
    cache_key = (rnd.checkpoint.path if rnd.checkpoint else "released", config.precision)
    if cache_key not in _models_cache:
        _models_cache[cache_key] = _ensemble(rnd)
    models = _models_cache[cache_key]
    structures = [Structure.from_dict(c.structure) for c in todo]
    volumes, fidelity = screening_mode(models, config)
    predictions = predict_structures(models, structures, volumes=volumes, fidelity=fidelity)
    placer = hull_placer("all")
    completeness = hull_completeness({c.chemsys for c in todo}, "all")
    for candidate, structure, prediction in zip(todo, structures, predictions, strict=True):
        candidate.screened = True
        candidate.hull_completeness = completeness[candidate.chemsys]
        if isinstance(prediction, str):
            candidate.screen_error = prediction[:300]
            continue
        candidate.e_form_pred_ev_per_atom = prediction.e_form_ev_per_atom
        candidate.e_form_iqr_ev_per_atom = prediction.iqr_ev_per_atom
        candidate.e_above_hull_pred_ev_per_atom = placer(structure.composition, prediction.e_form_ev_per_atom)
        if candidate.e_above_hull_pred_ev_per_atom is None:
            candidate.screen_error = "an element without reference: no hull placement"
    with transaction.atomic():
        Candidate.objects.bulk_update(todo, ["screened", "screen_error", "e_form_pred_ev_per_atom",
                                             "e_form_iqr_ev_per_atom", "e_above_hull_pred_ev_per_atom",
                                             "hull_completeness"])
    return len(todo)


def finish_screening(round_id: int, seconds: float | None = None) -> None:
    qs = Candidate.objects.filter(round_id=round_id)
    left = qs.filter(screened=False).count()
    if left:
        raise RoundError(f"{left} candidates of round {round_id} are not screened yet")
    rnd = DiscoveryRound.objects.get(pk=round_id)
    threshold = RoundConfig.stored(rnd.config).threshold_ev_per_atom
    started = rnd.timings.get("_screen_started")
    mark(round_id, Stage.SCREENED, seconds if seconds is not None else (time.time() - started if started else 0),
         progress="screened",
         counts={"screened": qs.exclude(e_above_hull_pred_ev_per_atom=None).count(),
                 "screen_refused": qs.exclude(screen_error="").count(),
                 "below_threshold": qs.filter(e_above_hull_pred_ev_per_atom__lt=threshold).count()})


def select(round_id: int) -> dict:
    """The control arm first (a seeded uniform sample of all screened candidates, so that its stable share
    estimates the prevalence without bias), then the model's arm: candidates predicted below the threshold,
    the lowest predicted decomposition energy per composition, lowest first, up to the evaluation budget."""
    rnd = DiscoveryRound.objects.get(pk=round_id)
    if is_done(rnd, Stage.SELECTED):
        return rnd.counts
    started = time.perf_counter()
    c = RoundConfig.stored(rnd.config)
    qs = Candidate.objects.filter(round_id=round_id).exclude(e_above_hull_pred_ev_per_atom=None)
    n_control = math.ceil(c.control_fraction * c.evaluation_budget) if c.control_fraction else 0
    pool = list(qs.order_by("pk").values_list("pk", flat=True))
    control = sorted(random.Random(c.random_seed).sample(pool, min(n_control, len(pool))))
    chosen, formulas = [], set()
    below = (qs.filter(e_above_hull_pred_ev_per_atom__lt=c.threshold_ev_per_atom).exclude(pk__in=control)
             .order_by("e_above_hull_pred_ev_per_atom", "pk").values_list("pk", "formula_reduced"))
    for pk, formula in below.iterator():
        if formula in formulas:
            continue
        formulas.add(formula)
        chosen.append(pk)
        if len(chosen) >= c.evaluation_budget:
            break
    with transaction.atomic():
        Candidate.objects.filter(round_id=round_id).update(arm="")
        Candidate.objects.filter(pk__in=control).update(arm=Candidate.Arm.CONTROL)
        Candidate.objects.filter(pk__in=chosen).update(arm=Candidate.Arm.FILTERED)
    counts = {"selected": len(chosen), "control": len(control)}
    mark(round_id, Stage.SELECTED, time.perf_counter() - started, progress="selected", counts=counts)
    return counts


def evaluate_chunks(round_id: int) -> list[list[int]]:
    rnd = DiscoveryRound.objects.get(pk=round_id)
    ids = list(Candidate.objects.filter(round_id=round_id, evaluation="").exclude(arm="").order_by("pk")
               .values_list("pk", flat=True))
    size = RoundConfig.stored(rnd.config).evaluate_chunk
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def evaluate(round_id: int, candidate_ids: Iterable[int]) -> int:
    """Relax and score the given chosen candidates not yet evaluated, one transaction each."""
    from pymatgen.core import Structure

    from materials.importing import references
    from materials.science import formation_from_energy

    from ..evaluation import EvaluationError, evaluator_named

    rnd = DiscoveryRound.objects.get(pk=round_id)
    c = RoundConfig.stored(rnd.config)
    evaluator = evaluator_named(c.evaluator, fmax=c.fmax, max_steps=c.max_steps)
    refs = references()
    done = 0
    for pk in candidate_ids:
        check_cancel(round_id)
        candidate = Candidate.objects.filter(pk=pk, round_id=round_id, evaluation="").exclude(arm="").first()
        if candidate is None:
            continue  # done already (a redelivered chunk) or not chosen
        set_progress(round_id, f"evaluating {candidate.formula_reduced} ({candidate.pk})")
        try:
            result = evaluator.evaluate(Structure.from_dict(candidate.structure))
        except EvaluationError as exc:
            Candidate.objects.filter(pk=pk, evaluation="").update(
                evaluation=Candidate.Evaluation.FAILED, evaluator=evaluator.method[:120],
                evaluation_detail={"error": str(exc)[:500]})
            continue
        e_form = formation_from_energy(result.energy_ev, result.structure.composition, refs)
        Candidate.objects.filter(pk=pk, evaluation="").update(
            evaluation=Candidate.Evaluation.DONE, evaluator=result.method[:120], energy_ev=result.energy_ev,
            e_form_ev_per_atom=e_form, relaxed_structure=result.structure.as_dict(),
            evaluation_detail={"converged": result.converged, "steps": result.steps, "seconds": round(result.seconds, 2),
                               "energy_raw_ev": result.energy_raw_ev, "correction": result.correction,
                               "kind": "machine-learned potential" if not evaluator.is_dft else "DFT"})
        done += 1
    return done


def finish_evaluation(round_id: int, seconds: float | None = None) -> None:
    qs = Candidate.objects.filter(round_id=round_id).exclude(arm="")
    left = qs.filter(evaluation="").count()
    if left:
        raise RoundError(f"{left} chosen candidates of round {round_id} are not evaluated yet")
    rnd = DiscoveryRound.objects.get(pk=round_id)
    started = rnd.timings.get("_evaluate_started")
    mark(round_id, Stage.EVALUATED, seconds if seconds is not None else (time.time() - started if started else 0),
         progress="evaluated", counts={"evaluated": qs.filter(evaluation="done").count(),
                                       "evaluation_failed": qs.filter(evaluation="failed").count()})


def material_id_of(candidate: Candidate) -> str:
    """Our own id of a discovered structure: from its structure hash, so the same structure is one material."""
    return f"gnx-{candidate.key[:12]}"


def ingest(round_id: int) -> list[str]:
    """Every evaluated candidate (both arms) becomes a Material of source "discovery" with the evaluator's
    Calculation (a potential's energy, labelled as such); an existing one is linked, not stored again."""
    from pymatgen.core import Structure

    from materials.science import structure_fields

    rnd = DiscoveryRound.objects.get(pk=round_id)
    if is_done(rnd, Stage.INGESTED):
        return list(Candidate.objects.filter(round_id=round_id).exclude(material=None)
                    .values_list("material__material_id", flat=True))
    started = time.perf_counter()
    from ..learning import record_round_examples

    # training data first, judged against the hull without this round's materials
    examples = record_round_examples(round_id)
    ids = []
    for candidate in Candidate.objects.filter(round_id=round_id, evaluation="done").order_by("pk"):
        material_id = material_id_of(candidate)
        structure = Structure.from_dict(candidate.relaxed_structure)
        with transaction.atomic():
            material = Material.objects.filter(material_id=material_id).first()
            if material is None:
                fields = structure_fields(structure)
                material = Material.objects.create(
                    material_id=material_id, source=Source.DISCOVERY, licence=DISCOVERY_LICENCE,
                    structure=structure.as_dict(), e_form_ev_per_atom=candidate.e_form_ev_per_atom,
                    energy_corrected_ev=candidate.energy_ev, energy_method=candidate.evaluator[:80],
                    energy_note="energy from a machine-learned potential, not DFT",
                    dataset=DISCOVERY_DATASET, dataset_version=f"round {round_id}",
                    extra={"round": round_id, "candidate": candidate.pk, "method": candidate.method,
                           "parent": candidate.parent, "detail": candidate.detail,
                           "predicted_e_form_ev_per_atom": candidate.e_form_pred_ev_per_atom,
                           "hull_completeness": candidate.hull_completeness,
                           "predicted_by": "GNoME GNN ensemble (machine-learned)"},
                    row_hash=candidate.key, **fields)
                Calculation.objects.create(
                    material=material, method=candidate.evaluator[:80], kind=Calculation.Kind.MODEL,
                    energy_ev=candidate.evaluation_detail.get("energy_raw_ev"),
                    energy_corrected_ev=candidate.energy_ev,
                    correction_ev=(candidate.energy_ev - candidate.evaluation_detail["energy_raw_ev"]
                                   if candidate.evaluation_detail.get("energy_raw_ev") is not None else None),
                    correction_scheme=candidate.evaluation_detail.get("correction", "")[:600],
                    e_form_ev_per_atom=candidate.e_form_ev_per_atom, structure=structure.as_dict(),
                    energy_note=f"{candidate.evaluator} (machine-learned potential), discovery round {round_id}")
            Candidate.objects.filter(pk=candidate.pk).update(material=material)
        ids.append(material_id)
    mark(round_id, Stage.INGESTED, time.perf_counter() - started, progress="materials stored",
         counts={"ingested": len(ids), "training_examples": examples})
    return ids


def update_hull(round_id: int) -> None:
    from hullapi.services import recompute_for_materials

    rnd = DiscoveryRound.objects.get(pk=round_id)
    if is_done(rnd, Stage.HULL):
        return
    started = time.perf_counter()
    set_progress(round_id, "updating the hull")
    ids = list(Candidate.objects.filter(round_id=round_id).exclude(material=None)
               .values_list("material__material_id", flat=True))
    runs = recompute_for_materials(ids) if ids else []
    mark(round_id, Stage.HULL, time.perf_counter() - started, progress="hull updated",
         counts={"hull_runs": [r.pk for r in runs]})



def retrain(round_id: int) -> None:
    """Optionally, the active ensemble fine-tuned on everything evaluated so far (GNoME's flywheel): minutes on
    a CPU. Off by default; a campaign's round always fine-tunes the campaign's ensemble (discovery.campaigns)."""
    rnd = DiscoveryRound.objects.get(pk=round_id)
    if is_done(rnd, Stage.RETRAINED):
        return
    started = time.perf_counter()
    if rnd.campaign_id is not None:
        from ..campaigns import retrain_round

        # the campaign's own ensemble, on what the campaign says; the site's active one is left alone
        retrain_round(round_id)
    elif RoundConfig.stored(rnd.config).retrain:
        from ..training import finetune_ensemble

        # warm-started from the active ensemble on DFT + every evaluated example (this round's included);
        # activated only if it screens the validation candidates better and is not worse on DFT
        finetune_ensemble(name=f"after round {round_id}", activate=True)
    mark(round_id, Stage.RETRAINED, time.perf_counter() - started, progress="done")
