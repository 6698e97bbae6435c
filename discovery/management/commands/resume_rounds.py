"""Resume discovery rounds that stalled (their Celery messages lost: a broker restarted empty, flushed, failed over).

    manage.py resume_rounds                      # rounds quiet for an hour (twice: the first run only looks)
    manage.py resume_rounds --stalled-after 0    # every pending or running round, now

A round counts as stalled when nothing about it (stage, progress, candidates stored, screened, evaluated,
ingested) has changed for --stalled-after seconds since a watcher first saw it so. Celery beat runs the same
check every few minutes (discovery.tasks.resume_stalled_rounds); this command is for an admin after an
incident, or a deployment without beat. Resuming a round that was only slow duplicates some work, never a result.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from discovery import rounds, tasks


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--stalled-after", type=float, default=rounds.STALLED_AFTER_S,
                            help=f"Seconds without change (default {rounds.STALLED_AFTER_S}; 0: resume all now).")

    def handle(self, *args, **options) -> str:
        resumed = rounds.resume_stalled(options["stalled_after"])
        for round_id in resumed:
            tasks.advance_round.delay(round_id)
        return f"resumed {len(resumed)} round(s){': ' + ', '.join(map(str, resumed)) if resumed else ''}"
