"""Train a GNN ensemble on the catalogue's GNoME structures (composition-hash split) and record it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from discovery.training import train_ensemble


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=4)
        parser.add_argument("--epochs", type=int, default=60)
        parser.add_argument("--width", type=int, default=64, help="Embedding and MLP width.")
        parser.add_argument("--steps", type=int, default=3, help="Message-passing blocks, readout included.")
        parser.add_argument("--batch-size", type=int, default=64)
        parser.add_argument("--lr", type=float, default=2e-3)
        parser.add_argument("--limit", type=int, default=None, help="Use only the first N structures.")
        parser.add_argument("--out", type=Path, default=None, help="Directory for the members (default var/models/...).")
        parser.add_argument("--activate", action="store_true", help="Make it the ensemble discovery screens with.")
        parser.add_argument("--kind", choices=["structure", "composition"], default="structure",
                            help="The structural model (default) or the compositional model.")

    def handle(self, *args, **options):
        for name in ("members", "epochs", "width", "steps", "batch_size"):
            if options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1")
        try:
            checkpoint = train_ensemble(
                members=options["members"], epochs=options["epochs"], width=options["width"], steps=options["steps"],
                batch_size=options["batch_size"], learning_rate=options["lr"], limit=options["limit"],
                out=options["out"], activate=options["activate"], progress=options["verbosity"] > 0,
                kind=options["kind"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        m = checkpoint.metrics
        self.stdout.write(f"ensemble #{checkpoint.pk} in {checkpoint.path}: {checkpoint.n_train} train / "
                          f"{checkpoint.n_test} test; test MAE members {[round(x, 4) for x in m['test_mae_members']]}, "
                          f"ensemble {m['test_mae_ensemble_no_tta']:.4f}"
                          + (f" (TTA {m['test_mae_ensemble_tta']:.4f})" if m["test_mae_ensemble_tta"] else "") + " eV/atom")
