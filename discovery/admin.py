from __future__ import annotations

from django.contrib import admin, messages

from materials.admin import ReadOnlyMixin

from . import tasks
from .models import ModelCheckpoint


@admin.register(ModelCheckpoint)
class ModelCheckpointAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("pk", "name", "status", "progress", "active", "n_train", "n_test", "test_mae", "hardware",
                    "started_at", "wall_seconds")
    list_filter = ("status", "active")
    actions = ["train_new_ensemble"]

    @admin.display(description="ensemble test MAE (eV/atom)")
    def test_mae(self, obj):
        value = (obj.metrics or {}).get("test_mae_ensemble_no_tta")
        return f"{value:.4f}" if value is not None else "—"

    @admin.action(description="Train a new ensemble with the same settings (Celery)")
    def train_new_ensemble(self, request, queryset):
        for checkpoint in queryset:
            arch, training = checkpoint.architecture or {}, checkpoint.training or {}
            tasks.train_gnn.delay(width=arch.get("embedding_dim", 64), steps=arch.get("steps", 3),
                                  epochs=training.get("epochs", 60), batch_size=training.get("batch_size", 64),
                                  learning_rate=training.get("learning_rate", 2e-3), name=checkpoint.name)
        self.message_user(request, f"Started {queryset.count()} training run(s)", messages.SUCCESS)
