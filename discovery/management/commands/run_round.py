"""Run a discovery round in this process (or resume one), with one progress bar per stage.

    manage.py run_round --chemsys Li-P-S --candidates 2000 --evaluate 20 [--evaluator chgnet] [--threshold 0.05]
    manage.py run_round --resume 7
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from discovery import rounds
from discovery.models import DiscoveryRound


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--resume", type=int, default=None, help="Round id to resume from its last stage.")
        parser.add_argument("--name", default="")
        parser.add_argument("--chemsys", action="append", default=[], help="Seed chemical system (repeatable).")
        parser.add_argument("--seed", action="append", default=[], help="Seed material id (repeatable).")
        parser.add_argument("--generators", default="substitution,saps")
        parser.add_argument("--candidates", type=int, default=rounds.DEFAULTS["candidate_budget"])
        parser.add_argument("--max-seeds", type=int, default=rounds.DEFAULTS["max_seeds"])
        parser.add_argument("--threshold", type=float, default=rounds.DEFAULTS["threshold_ev_per_atom"],
                            help="Screening threshold, eV/atom above the 'all' hull (default 0.05).")
        parser.add_argument("--evaluate", type=int, default=rounds.DEFAULTS["evaluation_budget"],
                            help="Evaluation budget of the model's arm.")
        parser.add_argument("--control", type=float, default=rounds.DEFAULTS["control_fraction"],
                            help="Control arm, as a share of the evaluation budget (default "
                                 f"{rounds.DEFAULTS['control_fraction']}).")
        parser.add_argument("--evaluator", default=rounds.DEFAULTS["evaluator"],
                            help="chgnet (default), sevennet, sevennet-l3i5")
        parser.add_argument("--fmax", type=float, default=rounds.DEFAULTS["fmax"])
        parser.add_argument("--max-steps", type=int, default=rounds.DEFAULTS["max_steps"])
        parser.add_argument("--cluster", action="store_true", help="StructureMatcher deduplication.")
        parser.add_argument("--retrain", action="store_true", help="Retrain the ensemble afterwards (hours on CPU).")
        parser.add_argument("--random-seed", type=int, default=0)

    def handle(self, *args, **o):
        if o["resume"] is not None:
            rnd = DiscoveryRound.objects.filter(pk=o["resume"]).first()
            if rnd is None:
                raise CommandError(f"no discovery round {o['resume']}")
        else:
            config = {"chemsys": o["chemsys"], "seeds": o["seed"],
                      "generators": [g.strip() for g in o["generators"].split(",") if g.strip()],
                      "candidate_budget": o["candidates"], "max_seeds": o["max_seeds"],
                      "threshold_ev_per_atom": o["threshold"], "evaluation_budget": o["evaluate"],
                      "control_fraction": o["control"], "evaluator": o["evaluator"],
                      "fmax": o["fmax"], "max_steps": o["max_steps"], "cluster": o["cluster"], "retrain": o["retrain"],
                      "random_seed": o["random_seed"]}
            try:
                rnd = rounds.create_round(config, name=o["name"], user="manage.py")
            except rounds.RoundError as exc:
                raise CommandError(str(exc)) from None
        bars = StageBars(disable=o["verbosity"] < 1)
        try:
            rnd = rounds.run_inline(rnd.pk, progress=bars)
        except rounds.RoundError as exc:
            raise CommandError(f"round {rnd.pk}: {exc}") from None
        finally:
            bars.close()
        m, c = rnd.metrics, rnd.counts
        self.stdout.write(f"round {rnd.pk}: {rnd.status}; generated {c.get('generated')}, below threshold "
                          f"{c.get('below_threshold')}, evaluated {c.get('evaluated')} ({c.get('selected')} selected + "
                          f"{c.get('control')} control)")
        if m:
            self.stdout.write(f"hit rate {_pct(m['hit_rate'])}, prevalence {_pct(m['prevalence'])}, DAF "
                              f"{m['daf'] if m['daf'] is None else round(m['daf'], 2)}; new stable: "
                              f"{', '.join(m['new_stable_compositions']) or 'none'}")
        self.stdout.write("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in rnd.timings.items()
                                                      if not k.startswith("_")))


class StageBars:
    """One progress bar per stage of the round, one at a time: a stage's bar is closed when the next one opens.
    A stage that counts candidates shows them and its rate (candidates per second of this run, the ones done
    before a resume not counted); a stage that is one step shows its wall time."""

    COUNTED = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}]"
    STEP = "{desc}: {elapsed}"
    NOTHING = "{desc}: done before"

    def __init__(self, *, disable: bool = False) -> None:
        self.disable = disable
        self.stage: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.disable:
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            unit = rounds.stage_named(stage).unit
            bar_format = self.NOTHING if not total else self.COUNTED if unit else self.STEP
            self.bar = tqdm(total=total, initial=done, desc=f"{stage:<8}", unit=unit or "step", bar_format=bar_format,
                            dynamic_ncols=True)
            return
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
