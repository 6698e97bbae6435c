"""Fine-tune the screening ensemble on DFT + evaluated candidates; activate it if it screens better.

    manage.py finetune_gnn [--epochs 12] [--lr 1e-3] [--workers 2] [--no-activate] [--release]

Warm-started from the active ensemble (else the released one). The new ensemble is compared with its base on
the DFT test split (relaxed structures, no TTA) and on the validation candidates (the screening task) and is
activated only when it is not worse on the first and better on the second. ``--release`` also copies it over
the released ensemble (discovery/gnn/released), which a fresh install screens with, when it passes the rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from discovery.gnn import recipe
from discovery.screening import summary
from discovery.training import finetune_ensemble


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--epochs", type=int, default=recipe.FINETUNE_EPOCHS)
        parser.add_argument("--lr", type=float, default=recipe.FINETUNE_LEARNING_RATE)
        parser.add_argument("--loss-delta", type=float, default=recipe.FINETUNE_HUBER_DELTA,
                            help="Huber loss width, eV/atom (default %(default)s: about an absolute error).")
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--candidate-repeats", type=int, default=3)
        parser.add_argument("--midway", default=",".join(f"{t:g}" for t in recipe.FINETUNE_MIDWAY),
                            help="Fractions of the relaxation path added as frames (default %(default)s; '' for none).")
        parser.add_argument("--workers", type=int, default=None,
                            help="Members trained at once, one process each (default GNOME_TRAIN_WORKERS, else 1).")
        parser.add_argument("--members", type=int, default=None, help="Fine-tune only the first N members.")
        parser.add_argument("--out", default=None)
        parser.add_argument("--name", default="fine-tuned")
        parser.add_argument("--no-activate", action="store_true")
        parser.add_argument("--release", action="store_true", help="Copy the members to discovery/gnn/released.")

    def handle(self, *args, **o):
        if o["epochs"] < 1 or o["lr"] <= 0 or o["loss_delta"] <= 0 or (o["workers"] is not None and o["workers"] < 1):
            raise CommandError("--epochs and --workers must be at least 1, --lr and --loss-delta positive")
        try:
            midway = tuple(float(t) for t in o["midway"].split(",") if t.strip())
        except ValueError:
            raise CommandError(f"--midway must be comma-separated fractions, not {o['midway']!r}") from None
        try:
            checkpoint = finetune_ensemble(epochs=o["epochs"], learning_rate=o["lr"], batch_size=o["batch_size"],
                                           huber_delta=o["loss_delta"], midway=midway, workers=o["workers"],
                                           candidate_repeats=o["candidate_repeats"], members=o["members"],
                                           out=Path(o["out"]) if o["out"] else None, name=o["name"],
                                           activate=not o["no_activate"], progress=o["verbosity"] >= 1)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        m = checkpoint.metrics
        for label in ("base", "new"):
            f = m[label]
            self.stdout.write(f"{label}: DFT test MAE {f['dft_test_mae']:.4f} eV/atom (no TTA)")
            for mode in ("no_tta", "tta"):
                if f[mode]:
                    self.stdout.write(f"  validation, {mode}: {summary(f[mode])}")
        self.stdout.write("learned offsets vs DFT: " + ", ".join(
            f"{k} {v['mean']:+.4f} eV/atom" for k, v in m["learned_offset_ev_per_atom"].items()))
        self.stdout.write(f"checkpoint {checkpoint.pk} at {checkpoint.path}: "
                          + ("activated" if checkpoint.active else "not activated") + "; "
                          + "; ".join(m["decision"]["reasons"]))
        if o["release"]:
            from discovery.gnn.__main__ import RELEASED

            if not m["decision"]["activate"]:
                raise CommandError("not released: the new ensemble does not pass the activation rule")

            for old in RELEASED.glob("member-*.pt"):
                old.unlink()
            for member in sorted(Path(checkpoint.path).glob("member-*.pt")):
                shutil.copy2(member, RELEASED / member.name)
            self.stdout.write(f"released to {RELEASED}")
