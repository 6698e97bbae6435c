"""Training examples of the screening model: export them to a file, import one (idempotent), or count them.

    manage.py training_examples export discovery/data/evaluated_candidates.jsonl.gz
    manage.py training_examples import discovery/data/evaluated_candidates.jsonl.gz
    manage.py training_examples stats
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from discovery import learning
from discovery.models import TrainingExample

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "evaluated_candidates.jsonl.gz"


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "import", "stats"])
        parser.add_argument("path", nargs="?", default=str(SHIPPED),
                            help="The file (default: the evaluated candidates shipped with the code).")

    def handle(self, *args, **o):
        path = Path(o["path"])
        if o["action"] == "export":
            n = learning.export_examples(path)
            self.stdout.write(f"{n} evaluated examples written to {path}")
        elif o["action"] == "import":
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            result = learning.import_examples(path)
            for problem in result["rejected"][:20]:
                self.stderr.write(f"rejected: {problem}")
            self.stdout.write(f"{result['added']} examples added, {result['already_known']} already known, "
                              f"{len(result['rejected'])} rejected")
        rows = (TrainingExample.objects.values("status", "split", "fidelity").annotate(n=Count("pk"))
                .order_by("status", "split", "fidelity"))
        for row in rows:
            self.stdout.write(f"  {row['status']:8s} {row['split']:10s} {row['fidelity'] or '-':14s} {row['n']}")
