"""Stored training examples take the candidate split of screening model version 5: parent-composition buckets
85-99, held out for testing until then, become training data (discovery.gnn.data.candidate_split says why).
Validation is unchanged; the split is recomputed from the parent formula, so running this again changes nothing."""

import hashlib

from django.db import migrations


def candidate_split(parent_formula: str) -> str:
    """The split of version 5, frozen here (as discovery.gnn.data.candidate_split defines it today)."""
    bucket = int(hashlib.md5(f"candidate:{parent_formula}".encode()).hexdigest(), 16) % 100
    return "validation" if 55 <= bucket < 70 else "test" if 70 <= bucket < 85 else "train"


def resplit(apps, schema_editor):
    TrainingExample = apps.get_model("discovery", "TrainingExample")
    moved: dict[str, list[int]] = {}
    for pk, parent_formula, split in TrainingExample.objects.values_list("pk", "parent_formula", "split").iterator():
        new = candidate_split(parent_formula)
        if new != split:
            moved.setdefault(new, []).append(pk)
    for split, pks in moved.items():
        for start in range(0, len(pks), 1000):
            TrainingExample.objects.filter(pk__in=pks[start:start + 1000]).update(split=split)


class Migration(migrations.Migration):
    dependencies = [("discovery", "0006_relax_jobs")]

    operations = [migrations.RunPython(resplit, migrations.RunPython.noop)]
