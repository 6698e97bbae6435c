"""The Celery application. With no CELERY_BROKER_URL, tasks run eagerly in-process (settings)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gnome_site.settings")

app = Celery("gnome_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_process_init.connect
def _one_thread_per_worker_process(**_):
    """Each prefork child runs torch on GNOME_WORKER_THREADS threads (default 1): several children with a thread
    per core each would oversubscribe the cores, and OpenMP slows down many times over when it does."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("GNOME_WORKER_THREADS") or 1)))
