"""The Celery application. With no CELERY_BROKER_URL, tasks run eagerly in-process (settings)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")

app = Celery("gnome_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# What `celery -A gnome_site beat` sends (one beat process per deployment: docker-compose.yml). The watcher
# of discovery rounds resumes a round whose Celery messages were lost (a broker restarted without its
# append-only file, flushed or failed over), once nothing about it has changed for GNOME_ROUND_STALLED_AFTER
# seconds; "expires" drops the checks that queued up behind long tasks instead of running them in a burst.
_RESUME_EVERY_S = int(os.environ.get("GNOME_RESUME_ROUNDS_EVERY") or 300)
_STALLED_AFTER_S = os.environ.get("GNOME_ROUND_STALLED_AFTER")
app.conf.beat_schedule = {
    "resume-stalled-rounds": {
        "task": "discovery.tasks.resume_stalled_rounds",
        "schedule": float(_RESUME_EVERY_S),
        "kwargs": {"stalled_after_s": float(_STALLED_AFTER_S) if _STALLED_AFTER_S else None},
        "options": {"expires": float(_RESUME_EVERY_S)},
    },
}


@signals.worker_process_init.connect
def _one_thread_per_worker_process(**_):
    """Each prefork child runs torch on GNOME_WORKER_THREADS threads (default 1): several children with a thread
    per core each would oversubscribe the cores, and OpenMP slows down many times over when it does."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("GNOME_WORKER_THREADS") or 1)))
