"""Run an active-learning campaign in this process (or resume one): round after round, each with one progress bar
per stage, and a line per round with its hit rate, prevalence and DAF (95 % intervals) and the fine-tune after it.

    manage.py run_campaign --chemsys Li-S --chemsys Li-O --rounds 4 --candidates 1500 --evaluate 40 --control 1.0
    manage.py run_campaign --resume 3
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from discovery import campaigns, rounds
from discovery.models import Campaign

from .run_round import StageBars


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        d, r = campaigns.DEFAULTS, rounds.DEFAULTS
        parser.add_argument("--resume", type=int, default=None, help="Campaign id to resume where it stopped.")
        parser.add_argument("--name", default="")
        parser.add_argument("--rounds", type=int, default=d["rounds"])
        parser.add_argument("--chemsys", action="append", default=[], help="Seed chemical system (repeatable).")
        parser.add_argument("--seed", action="append", default=[], help="Seed material id (repeatable).")
        parser.add_argument("--generators", default=",".join(r["generators"]))
        parser.add_argument("--candidates", type=int, default=r["candidate_budget"], help="Candidates per round.")
        parser.add_argument("--max-seeds", type=int, default=r["max_seeds"])
        parser.add_argument("--threshold", type=float, default=r["threshold_ev_per_atom"],
                            help="Screening threshold, eV/atom above the 'all' hull.")
        parser.add_argument("--evaluate", type=int, default=r["evaluation_budget"],
                            help="Evaluation budget of the model's arm, per round.")
        parser.add_argument("--control", type=float, default=r["control_fraction"],
                            help="Control arm as a share of the evaluation budget (1.0: as large as the model's arm).")
        parser.add_argument("--evaluator", default=r["evaluator"], help=", ".join(_evaluators()))
        parser.add_argument("--max-steps", type=int, default=r["max_steps"])
        parser.add_argument("--tta", choices=["on", "off", "auto"], default="auto",
                            help="Test-time augmentation at screening (auto: as each ensemble was measured to screen "
                                 "better).")
        parser.add_argument("--random-seed", type=int, default=0, help="Of round 1; round k uses this + k - 1.")
        parser.add_argument("--base", choices=campaigns.BASES, default=d["base"],
                            help="The ensemble round 1 screens with (catalogue-only: trained on DFT crystals only).")
        parser.add_argument("--training", choices=campaigns.TRAINING, default=d["training"],
                            help="What each fine-tune learns from: every evaluated candidate in the database, or "
                                 "only the campaign's.")
        parser.add_argument("--finetune-epochs", type=int, default=d["finetune_epochs"])
        parser.add_argument("--finetune-lr", type=float, default=d["finetune_learning_rate"])
        parser.add_argument("--adopt", choices=campaigns.ADOPT, default=d["adopt"],
                            help="When a fine-tuned ensemble screens the next round: if the activation rule says it is "
                                 "better (default), or always.")
        parser.add_argument("--finetune-members", type=int, default=None)
        parser.add_argument("--dft-limit", type=int, default=None,
                            help="Catalogue structures replayed while fine-tuning (default: all).")
        parser.add_argument("--workers", type=int, default=None, help="Members fine-tuned at once.")

    def handle(self, *args, **o):
        if o["resume"] is not None:
            if not Campaign.objects.filter(pk=o["resume"]).exists():
                raise CommandError(f"no campaign {o['resume']}")
            if not campaigns.resume(o["resume"]):
                raise CommandError(f"campaign {o['resume']} has ended ({Campaign.objects.get(pk=o['resume']).status})")
            campaign_id = o["resume"]
        else:
            round_config = {
                "chemsys": o["chemsys"], "seeds": o["seed"],
                "generators": [g.strip() for g in o["generators"].split(",") if g.strip()],
                "candidate_budget": o["candidates"], "max_seeds": o["max_seeds"], "threshold_ev_per_atom": o["threshold"],
                "evaluation_budget": o["evaluate"], "control_fraction": o["control"], "evaluator": o["evaluator"],
                "max_steps": o["max_steps"], "random_seed": o["random_seed"],
                "tta": {"on": True, "off": False, "auto": None}[o["tta"]]}
            config = {"rounds": o["rounds"], "round": round_config, "base": o["base"], "training": o["training"],
                      "finetune_epochs": o["finetune_epochs"], "finetune_members": o["finetune_members"],
                      "finetune_learning_rate": o["finetune_lr"], "adopt": o["adopt"],
                      "dft_limit": o["dft_limit"], "finetune_workers": o["workers"]}
            try:
                campaign_id = campaigns.create_campaign(config, name=o["name"], user="manage.py").pk
            except campaigns.CampaignError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"campaign {campaign_id} created")
        bars = StageBars(disable=o["verbosity"] < 1)

        def said(rnd):
            bars.close()
            self.stdout.write(round_line(rnd))

        try:
            campaign = campaigns.run_inline(campaign_id, progress=bars, on_round=said)
        except (rounds.RoundError, campaigns.CampaignError) as exc:
            raise CommandError(f"campaign {campaign_id}: {exc}") from None
        finally:
            bars.close()
        self.stdout.write(f"campaign {campaign.pk}: {campaign.status} ({campaign.progress}); screening now with "
                          f"{campaign.current_checkpoint.name if campaign.current_checkpoint else 'the released ensemble'}")
        if campaign.error:
            self.stdout.write(f"error: {campaign.error}")


def _evaluators() -> list[str]:
    from discovery.evaluation import EVALUATORS

    return list(EVALUATORS)


def _pct(value, ci=None) -> str:
    if value is None:
        return "n/a"
    text = f"{100 * value:.1f}%"
    return text + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")


def round_line(rnd) -> str:
    """One round of a campaign in a line: its arms with their intervals and sample sizes, and the fine-tune."""
    m = rnd.metrics or {}
    if not m:
        return f"round {rnd.campaign_index} (#{rnd.pk}): {rnd.status} at stage {rnd.stage} {rnd.error[:300]}"
    daf, ci, mae = m.get("daf"), m.get("daf_ci95"), m.get("ensemble_mae_ev_per_atom")
    daf_text = "n/a" if daf is None else f"{daf:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
    text = (f"round {rnd.campaign_index} (#{rnd.pk}): {rnd.status}; hit rate "
            f"{_pct(m['hit_rate'], m.get('hit_rate_ci95'))} ({m['stable_filtered']}/{m['evaluated_filtered']}), "
            f"prevalence {_pct(m['prevalence'], m.get('prevalence_ci95'))} ({m['stable_control']}/"
            f"{m['evaluated_control']}), DAF {daf_text}; screening MAE {'n/a' if mae is None else f'{mae:.3f}'} eV/atom "
            f"(n={m.get('ensemble_mae_n')}); {len(m.get('new_stable', []))} new stable")
    t = m.get("retrained")
    if t:
        if t.get("checkpoint_id") is None:
            text += f"; not fine-tuned: {t.get('skipped')}"
        else:
            mae = t.get("test_mae_ev_per_atom")
            text += (f"; fine-tuned on {t.get('candidates_trained')} candidates: test MAE "
                     f"{'n/a' if mae is None else f'{mae:.4f}'} (n={t.get('test_n')}), "
                     f"{'now screening' if t.get('activated') else 'kept the previous ensemble'} (activation rule: "
                     f"{'better' if t.get('rule') else 'not better'})")
    return text
