"""Training data for the screening model without a discovery round: candidates generated from the DFT
training split's crystals, evaluated in chunks and kept as training examples.

    manage.py make_training_candidates --candidates 4000 [--generators neighbour,substitution] [--workers 2]
    manage.py make_training_candidates --resume 3      # carries on an interrupted batch

With CELERY_BROKER_URL set, the chunks go to the Celery workers (any number of machines) and the command
waits, showing progress; without it (the embedded default) they run in ``--workers`` processes here. Each
result is written as it comes, so an interrupted batch loses only the structures being relaxed.
"""

from __future__ import annotations

import os
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from discovery import learning
from discovery.models import TrainingBatch, TrainingExample


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        d = learning.BATCH_DEFAULTS
        parser.add_argument("--resume", type=int, default=None, help="Batch id to carry on.")
        parser.add_argument("--name", default="")
        parser.add_argument("--candidates", type=int, default=d["candidates"])
        parser.add_argument("--generators", default=",".join(d["generators"]),
                            help=f"Among {', '.join(learning.BATCH_GENERATORS)} (default: %(default)s).")
        parser.add_argument("--per-seed", type=int, default=d["per_seed"])
        parser.add_argument("--max-sites", type=int, default=d["max_sites"])
        parser.add_argument("--evaluator", default=d["evaluator"], help="chgnet (default), sevennet, sevennet-l3i5")
        parser.add_argument("--fmax", type=float, default=d["fmax"])
        parser.add_argument("--max-steps", type=int, default=d["max_steps"])
        parser.add_argument("--chunk", type=int, default=d["chunk"], help="Candidates per Celery task.")
        parser.add_argument("--random-seed", type=int, default=d["random_seed"])
        parser.add_argument("--workers", type=int, default=int(os.environ.get("GNOME_EVAL_WORKERS") or 1),
                            help="Evaluation processes without a broker (default 1, or GNOME_EVAL_WORKERS: on a "
                                 "2-core machine two processes together evaluated slower than one alone).")
        parser.add_argument("--generate-only", action="store_true", help="Make the candidates, evaluate later.")

    def handle(self, *args, **o):
        from tqdm import tqdm

        if o["resume"] is not None:
            batch = TrainingBatch.objects.filter(pk=o["resume"]).first()
            if batch is None:
                raise CommandError(f"no training batch {o['resume']}")
            TrainingBatch.objects.filter(pk=batch.pk).update(status=TrainingBatch.Status.RUNNING, error="")
        else:
            config = {"candidates": o["candidates"], "generators": [g.strip() for g in o["generators"].split(",")
                                                                    if g.strip()],
                      "per_seed": o["per_seed"], "max_sites": o["max_sites"], "evaluator": o["evaluator"],
                      "fmax": o["fmax"], "max_steps": o["max_steps"], "chunk": o["chunk"],
                      "random_seed": o["random_seed"]}
            try:
                batch = learning.create_batch(config, name=o["name"], user="manage.py")
            except (ValueError, TypeError) as exc:
                raise CommandError(str(exc)) from None
        quiet = o["verbosity"] < 1
        try:
            # a bar opened at what is already stored, so that its rate counts only this run's work
            target = batch.config["candidates"]
            have = min(TrainingExample.objects.filter(batch=batch).count(), target)
            with tqdm(total=target, initial=have, desc="generate", unit="cand", disable=quiet) as bar:
                made = learning.generate_batch(batch.pk, progress=lambda n: bar.update(n - bar.n))
                bar.update(made - bar.n)
            if o["generate_only"]:
                self.stdout.write(f"batch {batch.pk}: {made} candidates, not evaluated yet (--resume {batch.pk})")
                return
            pending = TrainingExample.objects.filter(batch=batch, status="pending").count()
            with tqdm(total=pending, desc="evaluate", unit="cand", disable=quiet) as bar:
                if settings.CELERY_BROKER_URL:
                    counts = self._fan_out(batch.pk, bar)
                else:
                    counts = learning.evaluate_batch_here(batch.pk, o["workers"],
                                                          progress=lambda done, total: bar.update(done - bar.n))
        except KeyboardInterrupt:
            # what was evaluated is stored already; say so and how to carry on, not a traceback
            learning.fail_batch(batch.pk, "interrupted")
            left = TrainingExample.objects.filter(batch=batch, status="pending").count()
            raise CommandError(f"batch {batch.pk} interrupted: {left} candidates still pending, the rest is stored; "
                               f"carry on with --resume {batch.pk}") from None
        except Exception as exc:
            learning.fail_batch(batch.pk, f"{type(exc).__name__}: {exc}")
            raise
        self.stdout.write(f"batch {batch.pk}: {counts['evaluated']} evaluated, {counts['failed']} failed, "
                          f"{counts['pending']} pending (energies from {batch.config['evaluator']}, a machine-learned "
                          "potential, not DFT)")

    def _fan_out(self, batch_id: int, bar) -> dict:
        from celery import chord, group

        from discovery.tasks import evaluate_training_chunk, training_batch_done

        chunks = learning.pending_chunks(batch_id)
        if chunks:
            chord(group(evaluate_training_chunk.si(batch_id, c) for c in chunks),
                  training_batch_done.si(batch_id)).apply_async()
        qs = TrainingExample.objects.filter(batch_id=batch_id)
        total = bar.total
        while True:
            left = qs.filter(status="pending").count()
            bar.update(total - left - bar.n)
            if not left:
                return learning.finish_batch(batch_id)
            time.sleep(5)
