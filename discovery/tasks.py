"""Celery tasks of discovery: thin wrappers over discovery.training."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=False)  # hours long: not re-delivered to another worker if this one dies
def train_gnn(**options) -> int:
    """Train a GNN ensemble on the catalogue; returns the ModelCheckpoint id."""
    from .training import train_ensemble

    return train_ensemble(**options).pk
