"""An import runs in a real Celery worker on Redis and lands in PostgreSQL."""

from __future__ import annotations

import pytest

from materials.models import ImportRun, Material
from materials.tasks import import_dataset

from ..conftest import write_jsonl


def test_a_worker_imports_a_dataset_sent_through_redis(celery_worker_process, tmp_path, sample_rows):
    path = write_jsonl(tmp_path / "slice.jsonl.gz", sample_rows[:6])
    result = import_dataset.delay("import_gnome", str(path))
    assert result.get(timeout=120) == "import_gnome"
    assert Material.objects.count() == 6
    run = ImportRun.objects.get()
    assert (run.status, run.inserted) == (ImportRun.Status.SUCCEEDED, 6)

    again = import_dataset.delay("import_gnome", str(path))
    again.get(timeout=120)
    assert Material.objects.count() == 6  # idempotent when redone by a worker
    assert ImportRun.objects.first().unchanged == 6


def test_an_unknown_importer_is_refused_by_name(celery_worker_process):
    with pytest.raises(ValueError, match="unknown importer 'drop_tables'"):
        import_dataset.delay("drop_tables").get(timeout=60)
