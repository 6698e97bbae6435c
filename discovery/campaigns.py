"""Active-learning campaigns (Django glue): GNoME's flywheel turned round after round.

A campaign is a sequence of discovery rounds (``discovery.rounds``, each as a round runs alone) that share one
screening ensemble, the campaign's *current* one. Round k generates from the catalogue, to which the earlier
rounds added what they evaluated (their new stable crystals become seeds of the later rounds), screens with
the current ensemble, evaluates the model's arm and a random control arm, ingests, updates the hull and
measures; its retrain stage then fine-tunes the current ensemble on everything evaluated so far
(``training="all"``: every evaluated example in the database; ``"campaign"``: only what this campaign's rounds
evaluated) and makes the result the current ensemble only when it screens the validation candidates better
and is not worse on DFT (``discovery.training.decide``), or, with ``adopt="always"``, whatever it scores (as
GNoME screened each round with its newest model; the rule's verdict is recorded beside it). The site-wide
active ensemble is never changed by a campaign: an admin activates a campaign's ensemble on the checkpoints
page if they want it.

Drivers: ``run_inline`` (``manage.py run_campaign``, the embedded default) runs the rounds here; on Celery,
``discovery.tasks.advance_campaign`` starts the next round and every round, once finished, sends it again (a
chain of rounds whose links are the rounds' own completions, since each round fans out as chords). ``step`` is
the one decision both make: what round to drive now, creating it when the previous one has succeeded. Pausing
lets the running round finish and starts no other; resuming carries on from the database, after a restart too
(the watcher, ``resume_stalled``, starts the next round of a running campaign whose message was lost).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from . import rounds
from .models import Campaign, DiscoveryRound, ModelCheckpoint

__all__ = ["ADOPT", "BASES", "CATALOGUE_ONLY_DIR", "DEFAULTS", "TRAINING", "CampaignError", "campaign_doc", "cancel",
           "catalogue_only_checkpoint", "create_campaign", "pause", "resume", "resume_stalled", "retrain_round",
           "run_inline", "step", "validate_campaign_config"]

CATALOGUE_ONLY_DIR = Path(__file__).resolve().parent / "gnn" / "released" / "catalogue_only"
CATALOGUE_ONLY_NAME = "catalogue-only ensemble (version 1: DFT crystals only, no candidate seen)"
BASES = ("released", "catalogue-only", "active")
TRAINING = ("all", "campaign")
ADOPT = ("if-better", "always")
DEFAULTS: dict = {
    "rounds": 4,
    "round": {},  # a round's settings (discovery.rounds.RoundConfig); the campaign sets random_seed per round
    "base": "released",  # the ensemble the first round screens with
    "training": "all",  # what the retrain stage learns from: every evaluated example, or the campaign's own
    "seed_discoveries": True,  # the earlier rounds' new stable crystals seed the later rounds
    "finetune_epochs": 12,
    "finetune_learning_rate": 1e-3,
    "adopt": "if-better",  # the fine-tuned ensemble screens the next round if the rule says so, or always
    "finetune_members": None,  # the first N members of the base (None: all)
    "dft_limit": None,  # catalogue structures replayed while fine-tuning (None: all)
    "finetune_workers": None,  # members fine-tuned at once (None: GNOME_TRAIN_WORKERS, else 1)
}
MAX_ROUNDS = 50
ENDED = {Campaign.Status.SUCCEEDED, Campaign.Status.FAILED, Campaign.Status.CANCELLED}


class CampaignError(ValueError):
    """A campaign configuration or request that cannot be carried out (the message says why)."""


def _integer(name: str, value, low: int, high: int, *, optional: bool = False) -> str:
    if optional and value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"{name} must be {'null or ' if optional else ''}an integer from {low} to {high} (got {str(value)[:40]!r})"
    return ""


def _number(name: str, value, low: float, high: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        return f"{name} must be a number from {low} to {high} (got {str(value)[:40]!r})"
    return ""


def validate_campaign_config(raw: object) -> dict:
    """The full configuration (defaults filled in, the round's settings checked by ``RoundConfig``); a
    CampaignError names every bad field and its value."""
    if not isinstance(raw, dict):
        raise CampaignError("the configuration must be an object of settings")
    unknown = sorted(set(raw) - set(DEFAULTS))
    if unknown:
        raise CampaignError(f"unknown campaign setting(s): {', '.join(str(u)[:50] for u in unknown)}; "
                            f"known: {', '.join(DEFAULTS)}")
    config = {**DEFAULTS, **raw}
    problems = [p for p in (
        _integer("rounds", config["rounds"], 1, MAX_ROUNDS),
        _integer("finetune_epochs", config["finetune_epochs"], 1, 500),
        _number("finetune_learning_rate", config["finetune_learning_rate"], 1e-6, 0.1),
        _integer("finetune_members", config["finetune_members"], 1, 16, optional=True),
        _integer("dft_limit", config["dft_limit"], 100, 10_000_000, optional=True),
        _integer("finetune_workers", config["finetune_workers"], 1, 64, optional=True),
    ) if p]
    if config["base"] not in BASES:
        problems.append(f"base must be one of {', '.join(BASES)} (got {str(config['base'])[:40]!r})")
    if config["adopt"] not in ADOPT:
        problems.append(f"adopt must be one of {', '.join(ADOPT)} (got {str(config['adopt'])[:40]!r})")
    if config["training"] not in TRAINING:
        problems.append(f"training must be one of {', '.join(TRAINING)} (got {str(config['training'])[:40]!r})")
    if not isinstance(config["seed_discoveries"], bool):
        problems.append(f"seed_discoveries must be true or false (got {str(config['seed_discoveries'])[:40]!r})")
    round_raw = config["round"]
    if not isinstance(round_raw, dict):
        problems.append("round must be an object of round settings")
    else:
        if round_raw.get("retrain"):
            problems.append("round.retrain: a campaign retrains after every round itself; leave it out")
        try:
            config["round"] = rounds.validate_config({**round_raw, "retrain": False})
        except rounds.RoundError as exc:
            problems.append(f"round: {exc}")
    if problems:
        raise CampaignError("; ".join(problems))
    return config


def catalogue_only_checkpoint() -> ModelCheckpoint:
    """The shipped ensemble trained on DFT crystals only (the released version 1, before any candidate was
    evaluated): a campaign that starts from it shows the flywheel from its first turn, as GNoME's first round
    started from a model trained on the Materials Project alone. One checkpoint row, made on first use."""
    members = sorted(CATALOGUE_ONLY_DIR.glob("member-*.pt"))
    if not members:
        raise CampaignError(f"the catalogue-only ensemble is missing (no member-*.pt in {CATALOGUE_ONLY_DIR.name}/)")
    checkpoint, _ = ModelCheckpoint.objects.get_or_create(
        name=CATALOGUE_ONLY_NAME, path=str(CATALOGUE_ONLY_DIR),
        defaults={"status": ModelCheckpoint.Status.SUCCEEDED, "finished_at": timezone.now(),
                  "training": {"data": "the catalogue's DFT crystals (GNoME sample, training split)",
                               "candidate_examples": 0},
                  "progress": "shipped (discovery/gnn/released/catalogue_only)"})
    return checkpoint


def released_checkpoint() -> ModelCheckpoint:
    """The released ensemble as a checkpoint row (made on first use), so that a campaign's rounds and fine-tunes
    name it rather than fall back to whichever ensemble is active."""
    from .gnn.__main__ import RELEASED

    checkpoint, _ = ModelCheckpoint.objects.get_or_create(
        name="released GNN ensemble", path=str(RELEASED),
        defaults={"status": ModelCheckpoint.Status.SUCCEEDED, "finished_at": timezone.now(),
                  "progress": "shipped (discovery/gnn/released; MODEL_CARD.md)"})
    return checkpoint


def _base_checkpoint(base: str) -> ModelCheckpoint:
    from .training import active_checkpoint

    if base == "catalogue-only":
        return catalogue_only_checkpoint()
    if base == "active":
        return active_checkpoint("structure") or released_checkpoint()
    return released_checkpoint()


def create_campaign(config: dict, *, name: str = "", user: str = "") -> Campaign:
    """A pending campaign; a driver (``run_inline``, ``tasks.advance_campaign``) starts it."""
    config = validate_campaign_config(config)
    base = _base_checkpoint(config["base"])
    return Campaign.objects.create(name=name or "campaign", config=config, created_by=user, base_checkpoint=base,
                                   current_checkpoint=base)


# ---- driving ----------------------------------------------------------------------------------------------


def _round_config(campaign: Campaign, index: int) -> dict:
    """Round ``index``'s settings: the campaign's, a random seed of its own (other samples, other controls),
    and, with ``seed_discoveries``, the new stable crystals of the earlier rounds as seeds beside the others."""
    config = dict(campaign.config["round"])
    config["random_seed"] = int(config.get("random_seed", 0)) + index - 1
    if campaign.config.get("seed_discoveries", True):
        found = []
        for metrics in campaign.rounds.filter(campaign_index__lt=index).order_by("campaign_index").values_list(
                "metrics", flat=True):
            found += [x["material_id"] for x in (metrics or {}).get("new_stable", [])]
        config["seeds"] = list(dict.fromkeys([*config.get("seeds", []), *found]))[:1000]
    return config


def step(campaign_id: int) -> int | None:
    """The round to drive now: the campaign's unfinished round, or its next one (created here) once the last
    has succeeded; None when there is none (paused, ended, or every round done: the campaign is then marked
    succeeded, or failed/cancelled after its round was). One transaction, the campaign's row locked, so two
    drivers never create the same round."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status not in (Campaign.Status.PENDING, Campaign.Status.RUNNING):
            return None
        last = campaign.rounds.order_by("-campaign_index").first()
        planned = campaign.config["rounds"]
        if last is not None and last.status == DiscoveryRound.Status.CANCELLED:
            _end(campaign, Campaign.Status.CANCELLED, f"round {last.campaign_index} (#{last.pk}) was cancelled")
            return None
        if last is not None and last.status == DiscoveryRound.Status.FAILED:
            _end(campaign, Campaign.Status.FAILED, f"round {last.campaign_index} (#{last.pk}) failed: {last.error}"
                 [:5000], progress=f"round {last.campaign_index} of {planned} failed; resume to retry it")
            return None
        if campaign.status == Campaign.Status.PENDING:
            campaign.status, campaign.started_at = Campaign.Status.RUNNING, timezone.now()
        if last is not None and last.status != DiscoveryRound.Status.SUCCEEDED:
            campaign.progress = f"round {last.campaign_index} of {planned} (#{last.pk})"
            campaign.save()
            return last.pk
        done = last.campaign_index if last else 0
        if done >= planned:
            _end(campaign, Campaign.Status.SUCCEEDED, "", progress=f"{done} rounds done")
            return None
        index = done + 1
        rnd = DiscoveryRound.objects.create(
            name=f"{campaign.name} round {index}"[:100], config=_round_config(campaign, index),
            created_by=campaign.created_by, checkpoint=campaign.current_checkpoint, campaign=campaign,
            campaign_index=index)
        campaign.progress = f"round {index} of {planned} (#{rnd.pk})"
        campaign.save()
        return rnd.pk


def _end(campaign: Campaign, status: str, error: str, progress: str = "") -> None:
    campaign.status, campaign.error, campaign.finished_at = status, error, timezone.now()
    campaign.progress = progress or str(Campaign.Status(status).label).lower()
    campaign.save()


Progress = Callable[[str, int, int], None]


def run_inline(campaign_id: int, progress: Progress | None = None,
               on_round: Callable[[DiscoveryRound], None] | None = None) -> Campaign:
    """Every remaining round in this process (``manage.py run_campaign``), resuming an unfinished one from its
    last stage; ``progress`` gets the rounds' stage progress, ``on_round`` each round once it has ended."""
    while (round_id := step(campaign_id)) is not None:
        try:
            rnd = rounds.run_inline(round_id, progress=progress)
        except rounds.RoundError:
            rnd = DiscoveryRound.objects.get(pk=round_id)
            if rnd.status != DiscoveryRound.Status.FAILED:
                raise  # driven by another process: not ours to go on with
        if on_round:
            on_round(rnd)
        if rnd.status != DiscoveryRound.Status.SUCCEEDED:
            step(campaign_id)  # records the campaign as failed or cancelled
            break
    return Campaign.objects.get(pk=campaign_id)


def pause(campaign_id: int) -> bool:
    """Let the running round finish and start no other; False when the campaign is not running or pending."""
    return bool(Campaign.objects.filter(pk=campaign_id, status__in=[Campaign.Status.RUNNING, Campaign.Status.PENDING])
                .update(status=Campaign.Status.PAUSED, progress="paused (the running round finishes first)"))


def resume(campaign_id: int) -> bool:
    """A paused or failed campaign goes on (a failed round is retried from its last finished stage); the caller
    then drives it. False when it had succeeded or was cancelled."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.status in (Campaign.Status.SUCCEEDED, Campaign.Status.CANCELLED):
            return False
        last = campaign.rounds.order_by("-campaign_index").first()
        if last is not None and last.status == DiscoveryRound.Status.FAILED:
            DiscoveryRound.objects.filter(pk=last.pk).update(status=DiscoveryRound.Status.PENDING, error="",
                                                             finished_at=None)
        campaign.status, campaign.error, campaign.finished_at = Campaign.Status.RUNNING, "", None
        campaign.progress = "resumed"
        campaign.save()
    return True


def cancel(campaign_id: int) -> bool:
    """Stop the campaign and its running round; False when it had ended already."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or campaign.status in ENDED:
            return False
        for round_id in campaign.rounds.values_list("pk", flat=True):
            rounds.cancel(round_id)
        _end(campaign, Campaign.Status.CANCELLED, "", progress="cancelled")
    return True


def resume_stalled() -> list[int]:
    """Running campaigns with no round to move them: the last round succeeded (or none was made) and the next was
    never started (its message lost, a worker killed between the two). The caller sends ``advance_campaign``."""
    found = []
    for campaign in Campaign.objects.filter(status=Campaign.Status.RUNNING):
        last = campaign.rounds.order_by("-campaign_index").first()
        if last is None or last.status in (DiscoveryRound.Status.SUCCEEDED, DiscoveryRound.Status.FAILED,
                                           DiscoveryRound.Status.CANCELLED):
            found.append(campaign.pk)
    return found


# ---- the retrain stage of a campaign's round -----------------------------------------------------------------


def retrain_round(round_id: int) -> dict:
    """Fine-tune the campaign's current ensemble (the one that screened this round) on everything evaluated so
    far, measure it on the test candidates, and make it the campaign's current ensemble if ``decide`` says it
    screens better. Idempotent: a fine-tune that finished is not run again; one left running by a killed
    process is marked failed and redone. Returns what is recorded under the round's ``metrics["retrained"]``."""
    from .training import finetune_ensemble

    rnd = DiscoveryRound.objects.select_related("campaign", "checkpoint").get(pk=round_id)
    campaign = rnd.campaign
    done = (rnd.metrics or {}).get("retrained")
    if done and done.get("checkpoint_id") is not None:
        return done
    name = f"{campaign.name} (campaign {campaign.pk}) after round {rnd.campaign_index}"[:100]
    ModelCheckpoint.objects.filter(name=name, status=ModelCheckpoint.Status.RUNNING).update(
        status=ModelCheckpoint.Status.FAILED, error="interrupted: the process fine-tuning it stopped; redone",
        finished_at=timezone.now())
    finished = ModelCheckpoint.objects.filter(name=name, status=ModelCheckpoint.Status.SUCCEEDED).first()
    if finished is not None:  # fine-tuned before the process stopped, not yet recorded on the round
        return _record(rnd, _retrain_outcome(finished, always=campaign.config.get("adopt") == "always"))
    config = campaign.config
    round_ids = (list(campaign.rounds.filter(campaign_index__lte=rnd.campaign_index).values_list("pk", flat=True))
                 if config["training"] == "campaign" else None)
    rounds.set_progress(round_id, "fine-tuning the campaign's ensemble")
    try:
        checkpoint = finetune_ensemble(
            base=rnd.checkpoint, name=name, activate=False, epochs=config["finetune_epochs"],
            learning_rate=config.get("finetune_learning_rate", DEFAULTS["finetune_learning_rate"]),
            members=config["finetune_members"], dft_limit=config["dft_limit"], workers=config["finetune_workers"],
            rounds=round_ids, test=True)
    except ValueError as exc:  # nothing to learn from yet (no training-split candidate): the ensemble stays
        outcome = {**_retrain_outcome(None), "skipped": str(exc)[:500]}
    else:
        outcome = _retrain_outcome(checkpoint, always=config.get("adopt") == "always")
    return _record(rnd, outcome)


def _record(rnd: DiscoveryRound, outcome: dict) -> dict:
    """The fine-tune's outcome on the round, and its ensemble as the campaign's current one if it was better."""
    with transaction.atomic():
        if outcome["activated"]:
            Campaign.objects.filter(pk=rnd.campaign_id).update(current_checkpoint_id=outcome["checkpoint_id"])
        locked = DiscoveryRound.objects.select_for_update().get(pk=rnd.pk)
        locked.metrics = {**(locked.metrics or {}), "retrained": outcome}
        locked.save(update_fields=["metrics"])
    return outcome


def _retrain_outcome(checkpoint: ModelCheckpoint | None, *, always: bool = False) -> dict:
    """What the round records of its fine-tune (every key, None where ``checkpoint`` is None: skipped);
    ``always``: adopted whatever the rule said (``adopt="always"``, as GNoME screened each round with the newest
    model), the rule's verdict kept beside it."""
    m = (checkpoint.metrics if checkpoint else None) or {}
    training = (checkpoint.training if checkpoint else None) or {}
    test = (m.get("new") or {}).get("test") or {}
    decision = m.get("decision") or {}
    return {"checkpoint_id": checkpoint.pk if checkpoint else None, "checkpoint": checkpoint.name if checkpoint else None,
            "skipped": None, "candidates_trained": training.get("candidate_structures"),
            "candidates_by_round": training.get("candidates_by_round"),
            "test_mae_ev_per_atom": test.get("mae_ev_per_atom"), "test_mae_ci95": test.get("mae_ci95"),
            "test_n": test.get("n"), "test_tta": test.get("tta"),
            "validation_mae_ev_per_atom": (m.get("new") or {}).get("validation_mae"),
            "base_validation_mae_ev_per_atom": (m.get("base") or {}).get("validation_mae"),
            "dft_test_mae_ev_per_atom": (m.get("new") or {}).get("dft_test_mae"),
            "activated": checkpoint is not None and (always or bool(decision.get("activate"))),
            "rule": bool(decision.get("activate")), "reasons": decision.get("reasons", []),
            "wall_seconds": checkpoint.wall_seconds if checkpoint else None}


# ---- the document the API and the explorer read ------------------------------------------------------------


def _round_row(rnd: DiscoveryRound) -> dict:
    m = rnd.metrics or {}
    new_stable = m.get("new_stable") or []
    complete = sum(1 for x in new_stable if (x.get("hull_completeness") or {}).get("complete"))
    row = {"index": rnd.campaign_index, "round_id": rnd.pk, "status": rnd.status, "stage": rnd.stage,
           "progress": rnd.progress,
           "screened_with": rnd.checkpoint.name if rnd.checkpoint else "released GNN ensemble"}
    for key in ("hit_rate", "hit_rate_ci95", "stable_filtered", "evaluated_filtered", "prevalence", "prevalence_ci95",
                "stable_control", "evaluated_control", "daf", "daf_ci95"):
        row[key] = m.get(key)
    row["screening_mae_ev_per_atom"] = m.get("ensemble_mae_ev_per_atom")
    row["screening_mae_ci95"] = m.get("ensemble_mae_ci95")
    row["screening_mae_n"] = m.get("ensemble_mae_n")
    row["new_stable"] = len(new_stable) if m else None
    row["new_stable_complete"] = complete if m else None
    row["new_stable_incomplete"] = len(new_stable) - complete if m else None
    complete_hulls = m.get("complete_hulls") or {}
    row["complete_hulls"] = {k: complete_hulls.get(k) for k in (
        "hit_rate", "hit_rate_ci95", "stable_filtered", "evaluated_filtered", "prevalence", "prevalence_ci95",
        "stable_control", "evaluated_control", "daf", "daf_ci95")} if complete_hulls else None
    row["retrained"] = m.get("retrained")
    return row


def campaign_doc(campaign: Campaign) -> dict:
    """A campaign with its rounds' figures (hit rate, prevalence, DAF with 95 % intervals, screening MAE before
    training, new stable materials by hull completeness, the fine-tune after each round) and its scaling points
    (test MAE against the candidates trained on), as /api/v1/discovery/campaigns/{id}/ answers it."""
    from .evaluation import evaluator_named

    config = campaign.config or {}
    evaluator = (config.get("round") or {}).get("evaluator", "chgnet")
    try:
        label = evaluator_named(evaluator).label
    except ValueError:
        label = evaluator
    rows = [_round_row(r) for r in campaign.rounds.select_related("checkpoint").order_by("campaign_index")]
    scaling = [{"round": r["index"], "training_candidates": t["candidates_trained"],
                "test_mae_ev_per_atom": t["test_mae_ev_per_atom"], "test_mae_ci95": t["test_mae_ci95"],
                "test_n": t["test_n"], "checkpoint": t["checkpoint"], "activated": t["activated"]}
               for r in rows if (t := r["retrained"]) and t.get("checkpoint_id") and t.get("test_mae_ev_per_atom")
               is not None and t.get("candidates_trained")]
    return {
        "id": campaign.pk, "name": campaign.name, "status": campaign.status, "progress": campaign.progress,
        "created_at": campaign.created_at, "started_at": campaign.started_at, "finished_at": campaign.finished_at,
        "error": campaign.error, "created_by": campaign.created_by, "config": config,
        "rounds_planned": config.get("rounds"),
        "rounds_done": sum(1 for r in rows if r["status"] == DiscoveryRound.Status.SUCCEEDED),
        "base_model": campaign.base_checkpoint.name if campaign.base_checkpoint else "released GNN ensemble",
        "current_model": campaign.current_checkpoint.name if campaign.current_checkpoint else "released GNN ensemble",
        "energies": f"evaluated energies: {label} relaxations (a machine-learned potential, not DFT); predictions: "
                    "the GNN ensemble (machine-learned)",
        "intervals": "hit rate and prevalence: Wilson 95 %; DAF: Katz's log 95 % interval (0.5 added to each count "
                     "when an arm has no stable candidate); MAE: percentile bootstrap 95 %",
        "licence": "CC BY-NC 4.0 (derived from GNoME data and a model trained on it)",
        "rounds": rows,
        "scaling": scaling,
    }

