"""Celery tasks of the catalogue: thin wrappers over the import commands."""

from __future__ import annotations

from celery import shared_task
from django.core.management import call_command


@shared_task(acks_late=True)
def import_dataset(command: str, *args: str, **options) -> str:
    """Run one importer (import_gnome, import_mp_hull, import_structures) in a worker; idempotent."""
    if command not in {"import_gnome", "import_mp_hull", "import_structures", "import_references"}:
        raise ValueError(f"unknown importer {command!r}")
    call_command(command, *args, verbosity=0, **options)
    return command


@shared_task(acks_late=True)
def compute_dimensionality(only_missing: bool = True) -> dict:
    """Cheon dimensionality of the catalogue's structures (resumes: only missing ones by default)."""
    from .services import compute_dimensionality as compute

    return dict(compute(only_missing=only_missing))
