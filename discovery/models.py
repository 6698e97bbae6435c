"""Discovery: the trained models (rounds and candidates come with the discovery issues)."""

from __future__ import annotations

from django.db import models

from materials.fields import JSONField


class ModelCheckpoint(models.Model):
    """A trained GNN ensemble: where its members are, what it was trained on, how it scores."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=100)
    path = models.CharField(max_length=500, help_text="Directory holding member-*.pt.")
    architecture = JSONField(default=dict, help_text="GNNConfig of the members.")
    training = JSONField(default=dict, help_text="TrainConfig and the data it used.")
    data_hash = models.CharField(max_length=32, blank=True)
    n_train = models.PositiveIntegerField(default=0)
    n_test = models.PositiveIntegerField(default=0)
    metrics = JSONField(default=dict, blank=True, help_text="Test MAE per member and of the ensemble, eV/atom.")
    hardware = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    progress = models.CharField(max_length=200, blank=True, help_text="Member and epoch, while training.")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    wall_seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    active = models.BooleanField(default=False, help_text="The ensemble discovery rounds screen with.")

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk} ({self.status})"
