"""Discovery rounds: the GNoME flywheel as idempotent stage functions (Django glue; the science is pure code).

generate -> screen (chunks) -> select -> evaluate (chunks) -> ingest -> hull -> measure [-> retrain]

Each function can run twice without harm: candidates are keyed by (round, structure hash); screening and
evaluation only touch candidates not yet done and write each one in its own transaction; ingestion derives the
material id from the structure hash, so a structure is never stored twice, within a round or across rounds.
``DiscoveryRound.stage`` is the last stage finished; ``advance`` runs what comes next, so a round resumes from
where it stopped. The Celery tasks (discovery.tasks) call these; so do ``manage.py run_round`` and the tests.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from hullapi.engine import is_stable_energy
from materials.models import Calculation, Licence, Material, Source

from .models import Candidate, DiscoveryRound

Stage = DiscoveryRound.Stage
ORDER = list(Stage)  # the stages in the order a round goes through them
DISCOVERY_DATASET = "GNoME Explorer discovery rounds"
DISCOVERY_LICENCE = Licence.CC_BY_NC_4  # derived from GNoME seeds and a model trained on CC BY-NC data

DEFAULTS: dict = {
    "chemsys": [],  # seeds: stable crystals within these systems
    "seeds": [],  # and/or these material ids
    "generators": ["substitution", "saps"],
    "candidate_budget": 10000,
    "max_seeds": 50,
    "threshold_ev_per_atom": 0.05,  # GNoME's screening threshold against the "all" hull
    "evaluation_budget": 50,
    "control_fraction": 0.1,  # random unfiltered candidates evaluated as a control arm, share of the budget
    "evaluator": "chgnet",
    "fmax": 0.05,
    "max_steps": 300,
    "cluster": False,  # StructureMatcher deduplication while generating
    "retrain": False,
    "random_seed": 0,
    "screen_chunk": 500,
    "evaluate_chunk": 4,
    "saps_max_per_seed": 200,
    "precision": "float32",  # of the GNN at screening; bfloat16 is 1.4x faster on CPUs with AVX-512 BF16
    "tta": None,  # test-time augmentation at screening: None = as the ensemble was measured to screen better
    "volume": "rescaled",  # substituted cells: scaled to the new species' radii (measured better), or "seed"
    "sign_change": False,  # allow a cation to be replaced by an anion or back
    "allow_elements": [],  # elements without a stable isotope (Tc, Pm, Po onwards) a generator may bring in
}


LIST_LIMITS = {"chemsys": 50, "seeds": 1000, "generators": 5, "allow_elements": 30}
MAX_COUNT = 10_000_000
NUMBER_RANGES = {"control_fraction": (0, 1), "threshold_ev_per_atom": (-1, 5), "fmax": (0.001, 10)}


class RoundError(ValueError):
    """A round configuration or state that cannot go on (the message says why)."""


def validate_config(raw: dict) -> dict:
    """The full configuration (defaults filled in); a RoundError names each bad field."""
    from .evaluation import evaluator_named
    from .generating import GENERATORS, parse_chemsys

    if not isinstance(raw, dict):
        raise RoundError("the configuration must be an object of settings")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise RoundError(f"unknown setting(s): {', '.join(str(u)[:50] for u in unknown)}")
    config = {**DEFAULTS, **raw}
    problems = []
    for name, most in LIST_LIMITS.items():
        value = config[name]
        if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= 100 for v in value):
            problems.append(f"{name} must be a list of strings (got {str(value)[:80]!r})")
            config[name] = []
        elif len(value) > most:
            problems.append(f"{name}: {len(value)} given; at most {most}")
            config[name] = []
    for system in config["chemsys"]:
        try:
            parse_chemsys(system)
        except ValueError as exc:
            problems.append(str(exc))
    if not config["chemsys"] and not config["seeds"] and not problems:
        problems.append("give chemical systems or seed material ids")
    bad = [g for g in config["generators"] if g not in GENERATORS or g == "compositional"]
    if bad or not config["generators"]:
        problems.append(f"generators must be among substitution, saps, neighbour (got {config['generators']})")
    for name in ("candidate_budget", "evaluation_budget", "max_seeds", "screen_chunk", "evaluate_chunk", "max_steps",
                 "saps_max_per_seed", "random_seed"):
        low = 0 if name in ("max_steps", "random_seed") else 1
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_COUNT:
            problems.append(f"{name} must be an integer from {low} to {MAX_COUNT} (got {str(value)[:40]!r})")
    for name, (low, high) in NUMBER_RANGES.items():
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            problems.append(f"{name} must be a number from {low} to {high} (got {str(value)[:40]!r})")
    if config["tta"] is not None and not isinstance(config["tta"], bool):
        problems.append(f"tta must be true, false or null (got {str(config['tta'])[:40]!r})")
    from .generation.candidates import UNSTABLE_ELEMENTS
    from .generation.substitution import VOLUMES

    if config["volume"] not in VOLUMES:
        problems.append(f"volume must be one of {', '.join(VOLUMES)} (got {str(config['volume'])[:40]!r})")
    not_unstable = sorted(set(config["allow_elements"]) - UNSTABLE_ELEMENTS)
    if not_unstable:
        problems.append(f"allow_elements lists elements without a stable isotope to switch on; "
                        f"{', '.join(e[:10] for e in not_unstable[:10])} {'is' if len(not_unstable) == 1 else 'are'} "
                        "not among them")
    for name in ("cluster", "retrain", "sign_change"):
        if not isinstance(config[name], bool):
            problems.append(f"{name} must be true or false (got {str(config[name])[:40]!r})")
    if config["precision"] not in ("float32", "bfloat16"):
        problems.append(f"precision must be float32 or bfloat16 (got {str(config['precision'])[:40]!r})")
    if not isinstance(config["evaluator"], str):
        problems.append(f"evaluator must be a name (got {str(config['evaluator'])[:40]!r})")
    if problems:
        raise RoundError("; ".join(problems))
    try:
        evaluator_named(config["evaluator"], fmax=config["fmax"], max_steps=config["max_steps"])
    except (ValueError, TypeError) as exc:
        problems.append(str(exc))
    if problems:
        raise RoundError("; ".join(problems))
    return config


def create_round(config: dict, *, name: str = "", user: str = "") -> DiscoveryRound:
    """A round that screens with the active ensemble (an admin's choice), or the released one if none is."""
    from .training import active_checkpoint

    return DiscoveryRound.objects.create(name=name or "round", config=validate_config(config), created_by=user,
                                         checkpoint=active_checkpoint("structure"))


ROUND_LOCK_NAMESPACE = 0x676E78  # "gnx": the first key of the two-key advisory locks of rounds


@contextlib.contextmanager
def round_lock(round_id: int) -> Iterator[bool]:
    """Whether this process may drive the round now (run its stages, fan out its chunks): one driver at a time,
    so that a round resumed while it was in fact moving, or advanced twice, never runs a stage twice at once
    (two ingests would race to store the same materials). PostgreSQL: a session-level advisory lock, tried
    without waiting and released with the connection, so a killed worker never leaves it held. Elsewhere (the
    embedded SQLite default, tasks run eagerly in one process): always true."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ROUND_LOCK_NAMESPACE, round_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [ROUND_LOCK_NAMESPACE, round_id])


def round_driven(round_id: int) -> bool:
    """Whether some process holds the round's lock now (a stage running in a worker, or ``run_round``); only
    looks (pg_locks), so that it never makes a driver find the lock taken. False off PostgreSQL."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s "
                       "AND objid = %s AND objsubid = 2 AND database = "
                       "(SELECT oid FROM pg_database WHERE datname = current_database()))",
                       [ROUND_LOCK_NAMESPACE, round_id])
        return cursor.fetchone()[0]


def _done(rnd: DiscoveryRound, stage: str) -> bool:
    return ORDER.index(rnd.stage) >= ORDER.index(stage)


def _mark(round_id: int, stage: str, seconds: float, **fields) -> DiscoveryRound:
    with transaction.atomic():
        rnd = DiscoveryRound.objects.select_for_update().get(pk=round_id)
        if ORDER.index(stage) > ORDER.index(rnd.stage):
            rnd.stage = stage
        rnd.timings = {**rnd.timings, stage: round(seconds, 3)}
        for key, value in fields.items():
            if key == "counts":
                rnd.counts = {**rnd.counts, **value}
            else:
                setattr(rnd, key, value)
        rnd.save()
    return rnd


def note_start(round_id: int, stage: str, at: float) -> None:
    """When a fanned-out stage began (epoch seconds), so that its callback can record the stage's wall time."""
    with transaction.atomic():
        rnd = DiscoveryRound.objects.select_for_update().get(pk=round_id)
        rnd.timings = {**rnd.timings, f"_{stage}_started": at}
        rnd.save(update_fields=["timings"])


def _progress(round_id: int, text: str) -> None:
    DiscoveryRound.objects.filter(pk=round_id).update(progress=text[:200])


def _check_cancel(round_id: int) -> None:
    if DiscoveryRound.objects.filter(pk=round_id, cancel_requested=True).exists():
        DiscoveryRound.objects.filter(pk=round_id).update(status=DiscoveryRound.Status.CANCELLED,
                                                          finished_at=timezone.now(), progress="cancelled")
        raise RoundCancelled(f"round {round_id} was cancelled")


class RoundCancelled(RuntimeError):
    pass


# ---- stages ------------------------------------------------------------------------------------------


def generate(round_id: int, progress: Callable[[int], None] | None = None) -> int:
    """Generate up to the candidate budget (novel compositions, no exact duplicates) and store them."""
    from .generating import generate as raw_stream
    from .generating import known_formulas, seed_materials
    from .generation.streams import StreamStats, pipeline

    rnd = DiscoveryRound.objects.get(pk=round_id)
    if _done(rnd, Stage.GENERATED):
        return rnd.counts.get("generated", 0)
    started = time.perf_counter()
    DiscoveryRound.objects.filter(pk=round_id).update(status=DiscoveryRound.Status.RUNNING, started_at=timezone.now(),
                                                      progress="generating")
    c = rnd.config
    seeds = seed_materials(material_ids=c["seeds"], chemsys=c["chemsys"], max_seeds=c["max_seeds"])
    if not seeds:
        raise RoundError(f"no seed crystals in {c['chemsys'] or c['seeds']}")
    skipped: dict[str, str] = {}

    def mixed():
        # the generators take turns seed by seed, so that a budget smaller than the supply samples all of them
        per_generator = []
        for method in c["generators"]:
            options = {"max_per_seed": c["saps_max_per_seed"]} if method == "saps" else {}
            options.update(volume=c.get("volume", DEFAULTS["volume"]), allow_elements=c.get("allow_elements") or ())
            if method != "neighbour":
                options["sign_change"] = c.get("sign_change", DEFAULTS["sign_change"])
            per_generator.append(raw_stream(method, seeds=seeds, options=options, on_skip=skipped.__setitem__))
        while per_generator:
            for stream in list(per_generator):
                chunk = [x for _, x in zip(range(50), stream, strict=False)]
                if not chunk:
                    per_generator.remove(stream)
                yield from chunk

    stats = StreamStats()
    stream = pipeline(mixed(), known_formulas=known_formulas(), dedup="structure" if c["cluster"] else "exact",
                      limit=c["candidate_budget"], stats=stats)
    batch, stored = [], 0
    for candidate in stream:
        batch.append(Candidate(
            round_id=round_id, key=candidate.key, method=candidate.method, parent=candidate.parent,
            detail=candidate.detail, formula_reduced=candidate.reduced_formula,
            chemsys="-".join(sorted(el.symbol for el in candidate.composition.elements)), nsites=len(candidate.species),
            structure=candidate.structure.as_dict()))
        if len(batch) >= 1000:
            stored += _store_candidates(batch)
            batch = []
            _progress(round_id, f"generating: {stored} candidates")
            if progress:
                progress(stored)
    stored += _store_candidates(batch)
    total = Candidate.objects.filter(round_id=round_id).count()
    _mark(round_id, Stage.GENERATED, time.perf_counter() - started, progress=f"{total} candidates generated",
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
    size = rnd.config["screen_chunk"]
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def _ensemble(rnd: DiscoveryRound):
    from .gnn.__main__ import released_members
    from .gnn.predict import load_model

    members = sorted(Path(rnd.checkpoint.path).glob("member-*.pt")) if rnd.checkpoint else released_members()
    if not members:
        raise RoundError("no GNN ensemble to screen with (no released members and no checkpoint)")
    return [load_model(m, precision=rnd.config.get("precision", "float32"))[0] for m in members]


_models_cache: dict[tuple, list] = {}


def screening_mode(models, config: dict) -> tuple:
    """(TTA volumes or None, fidelity) a round screens with: TTA as the round says, else as the ensemble was
    measured to screen better (``screen_tta`` in its config; on for ensembles that never measured it); the
    round's evaluator as the fidelity when the ensemble knows it, else its own default."""
    from .evaluation import evaluator_named
    from .gnn.featurize import TTA_VOLUMES

    tta = config.get("tta")
    if tta is None:
        tta = models[0].config.extra.get("screen_tta", True)
    name = evaluator_named(config["evaluator"]).name
    fidelity = name if name in (models[0].config.fidelities or ()) else None
    return (TTA_VOLUMES if tta else None), fidelity


def screen(round_id: int, candidate_ids: Iterable[int]) -> int:
    """Ensemble + TTA prediction and predicted decomposition energy against the current "all" hull, for the
    given candidates not yet screened. Returns how many it screened."""
    from pymatgen.core import Structure

    from materials.services import hull_completeness

    from .generating import hull_placer
    from .gnn.predict import predict_structures

    rnd = DiscoveryRound.objects.select_related("checkpoint").get(pk=round_id)
    todo = list(Candidate.objects.filter(round_id=round_id, pk__in=list(candidate_ids), screened=False))
    if not todo:
        return 0
    cache_key = (rnd.checkpoint.path if rnd.checkpoint else "released", rnd.config.get("precision", "float32"))
    if cache_key not in _models_cache:
        _models_cache[cache_key] = _ensemble(rnd)
    models = _models_cache[cache_key]
    structures = [Structure.from_dict(c.structure) for c in todo]
    volumes, fidelity = screening_mode(models, rnd.config)
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
    threshold = rnd.config["threshold_ev_per_atom"]
    started = rnd.timings.get("_screen_started")
    _mark(round_id, Stage.SCREENED, seconds if seconds is not None else (time.time() - started if started else 0),
          progress="screened",
          counts={"screened": qs.exclude(e_above_hull_pred_ev_per_atom=None).count(),
                  "screen_refused": qs.exclude(screen_error="").count(),
                  "below_threshold": qs.filter(e_above_hull_pred_ev_per_atom__lt=threshold).count()})


def select(round_id: int) -> dict:
    """The control arm first (a seeded uniform sample of all screened candidates, so that its stable share
    estimates the prevalence without bias), then the model's arm: candidates predicted below the threshold,
    the lowest predicted decomposition energy per composition, lowest first, up to the evaluation budget."""
    rnd = DiscoveryRound.objects.get(pk=round_id)
    if _done(rnd, Stage.SELECTED):
        return rnd.counts
    started = time.perf_counter()
    c = rnd.config
    qs = Candidate.objects.filter(round_id=round_id).exclude(e_above_hull_pred_ev_per_atom=None)
    n_control = math.ceil(c["control_fraction"] * c["evaluation_budget"]) if c["control_fraction"] else 0
    pool = list(qs.order_by("pk").values_list("pk", flat=True))
    control = sorted(random.Random(c["random_seed"]).sample(pool, min(n_control, len(pool))))
    chosen, formulas = [], set()
    below = (qs.filter(e_above_hull_pred_ev_per_atom__lt=c["threshold_ev_per_atom"]).exclude(pk__in=control)
             .order_by("e_above_hull_pred_ev_per_atom", "pk").values_list("pk", "formula_reduced"))
    for pk, formula in below.iterator():
        if formula in formulas:
            continue
        formulas.add(formula)
        chosen.append(pk)
        if len(chosen) >= c["evaluation_budget"]:
            break
    with transaction.atomic():
        Candidate.objects.filter(round_id=round_id).update(arm="")
        Candidate.objects.filter(pk__in=control).update(arm=Candidate.Arm.CONTROL)
        Candidate.objects.filter(pk__in=chosen).update(arm=Candidate.Arm.FILTERED)
    counts = {"selected": len(chosen), "control": len(control)}
    _mark(round_id, Stage.SELECTED, time.perf_counter() - started, progress="selected", counts=counts)
    return counts


def evaluate_chunks(round_id: int) -> list[list[int]]:
    rnd = DiscoveryRound.objects.get(pk=round_id)
    ids = list(Candidate.objects.filter(round_id=round_id, evaluation="").exclude(arm="").order_by("pk")
               .values_list("pk", flat=True))
    size = rnd.config["evaluate_chunk"]
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def evaluate(round_id: int, candidate_ids: Iterable[int]) -> int:
    """Relax and score the given chosen candidates not yet evaluated, one transaction each."""
    from pymatgen.core import Structure

    from materials.importing import references
    from materials.science import formation_from_energy

    from .evaluation import EvaluationError, evaluator_named

    rnd = DiscoveryRound.objects.get(pk=round_id)
    c = rnd.config
    evaluator = evaluator_named(c["evaluator"], fmax=c["fmax"], max_steps=c["max_steps"])
    refs = references()
    done = 0
    for pk in candidate_ids:
        _check_cancel(round_id)
        candidate = Candidate.objects.filter(pk=pk, round_id=round_id, evaluation="").exclude(arm="").first()
        if candidate is None:
            continue  # done already (a redelivered chunk) or not chosen
        _progress(round_id, f"evaluating {candidate.formula_reduced} ({candidate.pk})")
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
    _mark(round_id, Stage.EVALUATED, seconds if seconds is not None else (time.time() - started if started else 0),
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
    if _done(rnd, Stage.INGESTED):
        return list(Candidate.objects.filter(round_id=round_id).exclude(material=None)
                    .values_list("material__material_id", flat=True))
    started = time.perf_counter()
    from .learning import record_round_examples

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
    _mark(round_id, Stage.INGESTED, time.perf_counter() - started, progress="materials stored",
          counts={"ingested": len(ids), "training_examples": examples})
    return ids


def update_hull(round_id: int) -> None:
    from hullapi.services import recompute_for_materials

    rnd = DiscoveryRound.objects.get(pk=round_id)
    if _done(rnd, Stage.HULL):
        return
    started = time.perf_counter()
    _progress(round_id, "updating the hull")
    ids = list(Candidate.objects.filter(round_id=round_id).exclude(material=None)
               .values_list("material__material_id", flat=True))
    runs = recompute_for_materials(ids) if ids else []
    _mark(round_id, Stage.HULL, time.perf_counter() - started, progress="hull updated",
          counts={"hull_runs": [r.pk for r in runs]})


def measure(round_id: int) -> dict:
    """Hit rate (stable / evaluated, the model's arm), prevalence (the same in the control arm), discovery
    acceleration factor (their ratio), the ensemble's MAE on the evaluated structures, the new stable materials."""
    from hullapi.models import Stability

    rnd = DiscoveryRound.objects.get(pk=round_id)
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

    from .screening import wilson

    def arm_figures(by_arm: dict[str, list[bool]]) -> dict:
        hit, base = rate(by_arm["filtered"]), rate(by_arm["control"])
        figures = {"hit_rate": hit, "prevalence": base, "daf": hit / base if hit is not None and base else None}
        for arm in ("filtered", "control"):
            figures[f"stable_{arm}"], figures[f"evaluated_{arm}"] = sum(by_arm[arm]), len(by_arm[arm])
        figures["hit_rate_ci95"] = wilson(figures["stable_filtered"], figures["evaluated_filtered"])
        figures["prevalence_ci95"] = wilson(figures["stable_control"], figures["evaluated_control"])
        return figures

    metrics = {
        **arm_figures(arms),
        # the same, only over candidates whose systems had every binary subsystem holding a compound when judged
        "complete_hulls": {
            **arm_figures(complete_arms),
            "definition": "every binary subsystem of the candidate's system held a compound on the 'all' hull "
                          "when the candidate was screened",
        },
        "ensemble_mae_ev_per_atom": sum(errors) / len(errors) if errors else None,
        "new_stable": sorted(new_stable, key=lambda x: x["material_id"]),
        "new_stable_compositions": sorted({x["formula"] for x in new_stable}),
        "energies": f"evaluated with {rnd.config['evaluator']} (a machine-learned potential, not DFT)",
    }
    _mark(round_id, Stage.MEASURED, time.perf_counter() - started, progress="metrics recorded", metrics=metrics)
    return metrics


def retrain(round_id: int) -> None:
    """Optionally, the active ensemble fine-tuned on everything evaluated so far (GNoME's flywheel): minutes on
    a CPU. Off by default."""
    rnd = DiscoveryRound.objects.get(pk=round_id)
    started = time.perf_counter()
    if rnd.config.get("retrain"):
        from .training import finetune_ensemble

        # warm-started from the active ensemble on DFT + every evaluated example (this round's included);
        # activated only if it screens the validation candidates better and is not worse on DFT
        finetune_ensemble(name=f"after round {round_id}", activate=True)
    _mark(round_id, Stage.RETRAINED, time.perf_counter() - started, progress="done")


def finish(round_id: int) -> DiscoveryRound:
    DiscoveryRound.objects.filter(pk=round_id).update(status=DiscoveryRound.Status.SUCCEEDED,
                                                      finished_at=timezone.now(), progress="done")
    return DiscoveryRound.objects.get(pk=round_id)


def cancel(round_id: int) -> bool:
    """Ask a round to stop: chunks still queued skip their work, the next stage does not start. False when the
    round had already ended."""
    ended = {DiscoveryRound.Status.SUCCEEDED, DiscoveryRound.Status.FAILED, DiscoveryRound.Status.CANCELLED}
    updated = DiscoveryRound.objects.filter(pk=round_id).exclude(status__in=ended).update(
        cancel_requested=True, status=DiscoveryRound.Status.CANCELLED, finished_at=timezone.now(), progress="cancelled")
    return bool(updated)


def fail(round_id: int, error: str) -> None:
    DiscoveryRound.objects.filter(pk=round_id).exclude(status=DiscoveryRound.Status.CANCELLED).update(
        status=DiscoveryRound.Status.FAILED, error=error[:5000], finished_at=timezone.now())


def run_inline(round_id: int, progress: Callable[[str, int, int], None] | None = None) -> DiscoveryRound:
    """The whole round in this process, resuming from its last finished stage (``manage.py run_round``)."""
    with round_lock(round_id) as mine:
        if not mine:
            raise RoundError(f"round {round_id} is being run by another process")
        return _run_inline(round_id, progress)


def _run_inline(round_id: int, progress: Callable[[str, int, int], None] | None) -> DiscoveryRound:
    def tell(stage, done, total):
        if progress:
            progress(stage, done, total)

    try:
        generate(round_id, progress=lambda n: tell("generate", n, 0))
        rnd = DiscoveryRound.objects.get(pk=round_id)
        if not _done(rnd, Stage.SCREENED):
            started = time.perf_counter()
            chunks = screen_chunks(round_id)
            for i, chunk in enumerate(chunks):
                _check_cancel(round_id)
                screen(round_id, chunk)
                _progress(round_id, f"screening: chunk {i + 1}/{len(chunks)}")
                tell("screen", i + 1, len(chunks))
            finish_screening(round_id, time.perf_counter() - started)
        select(round_id)
        rnd = DiscoveryRound.objects.get(pk=round_id)
        if not _done(rnd, Stage.EVALUATED):
            started = time.perf_counter()
            chunks = evaluate_chunks(round_id)
            for i, chunk in enumerate(chunks):
                evaluate(round_id, chunk)
                tell("evaluate", i + 1, len(chunks))
            finish_evaluation(round_id, time.perf_counter() - started)
        ingest(round_id)
        update_hull(round_id)
        measure(round_id)
        retrain(round_id)
        return finish(round_id)
    except RoundCancelled:
        return DiscoveryRound.objects.get(pk=round_id)
    except Exception as exc:
        fail(round_id, f"{type(exc).__name__}: {exc}")
        raise


# ---- stalled rounds ----------------------------------------------------------------------------------------
# A round moves by Celery messages: chunks queued, a chord's count of finished chunks, the callback that calls
# the next stage. A broker that loses them (Redis restarted without its append-only file, flushed, failed
# over) leaves the round "running" with nothing left to move it. The watcher (discovery.tasks.resume_stalled_
# rounds, on Celery beat; or manage.py resume_rounds) notices that nothing about a round has changed for a
# while and runs ``advance_round`` again, which carries on from the database: it re-sends the chunks not yet
# done, or finishes the stage whose callback was lost. Resuming a round that was only slow costs duplicated
# work (a chunk evaluated twice keeps its first result), never a wrong or doubled result.

STALLED_AFTER_S = 3600  # quiet this long (no stage, progress or candidate changed), a running round is stalled
MAX_RESUMES = 3  # resumes in a row that changed nothing, after which the round is failed for a person to see


def activity(rnd: DiscoveryRound) -> str:
    """What changes whenever a round makes progress: its stage and progress line, and its candidates
    stored, screened, evaluated and ingested."""
    n = Candidate.objects.filter(round_id=rnd.pk).aggregate(
        stored=Count("pk"), screened=Count("pk", filter=Q(screened=True)),
        evaluated=Count("pk", filter=~Q(evaluation="")), ingested=Count("material"))
    return f"{rnd.stage}|{rnd.progress}|{n['stored']}|{n['screened']}|{n['evaluated']}|{n['ingested']}"


def resume_stalled(stalled_after_s: float = STALLED_AFTER_S, *, max_resumes: int = MAX_RESUMES,
                   now: float | None = None) -> list[int]:
    """The pending or running rounds to advance again: those no process drives (``round_driven``) whose
    ``activity`` has not changed for ``stalled_after_s`` seconds since the watcher first saw it so; with 0,
    every undriven one at once (an admin's decision after an incident). A round resumed ``max_resumes`` times in
    a row without any change is failed instead, saying why. Each call records what it saw in the round's
    ``timings["_watch"]``; the caller sends ``advance_round`` for the ids returned."""
    now = time.time() if now is None else now
    force = stalled_after_s <= 0
    waiting = [DiscoveryRound.Status.PENDING, DiscoveryRound.Status.RUNNING]
    resumed = []
    for round_id in DiscoveryRound.objects.filter(status__in=waiting, cancel_requested=False).order_by(
            "pk").values_list("pk", flat=True):
        with transaction.atomic():
            rnd = DiscoveryRound.objects.select_for_update().filter(pk=round_id, status__in=waiting).first()
            if rnd is None:
                continue
            seen = activity(rnd)
            watch = rnd.timings.get("_watch") or {}
            driven = round_driven(round_id)  # a long stage that changes nothing (a retraining) is alive too
            if driven or watch.get("seen") != seen:
                watch = {"seen": seen, "since": now, "resumes": 0}
            quiet = now - watch["since"]
            if not driven and (force or (quiet >= stalled_after_s and watch["resumes"] < max_resumes)):
                watch = {"seen": seen, "since": now, "resumes": watch["resumes"] + 1}
                rnd.timings = {**rnd.timings, "_resumed": rnd.timings.get("_resumed", 0) + 1}
                resumed.append(round_id)
            elif not driven and quiet >= stalled_after_s:
                rnd.status, rnd.finished_at = DiscoveryRound.Status.FAILED, timezone.now()
                rnd.error = (f"stalled: {watch['resumes']} resumes changed nothing, the last {quiet:.0f} s ago "
                             f"(after stage {rnd.stage!r}: {rnd.progress!r}); resume it once the cause is fixed")
                watch = {}  # a person's resume starts the watch afresh
            rnd.timings = {**rnd.timings, "_watch": watch}
            rnd.save(update_fields=["timings", "status", "error", "finished_at"])
    return resumed
