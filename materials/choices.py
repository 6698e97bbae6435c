"""The status of a background job's row, defined once for every app: imports, hull recomputes, screen runs and
training (``RunStatus``), molecular dynamics and relaxations (``QueuedRunStatus``), discovery rounds
(``CancellableRunStatus``) and campaigns (``PausableRunStatus``).

Every job runs, then succeeds or fails, with the same values and labels. Jobs that wait for a worker before they
run, or that can be cancelled, add those states to ``RunStatus`` (each under the value it has always been stored
with: "queued" for a job handed to a worker, "pending" for a round not yet started) rather than spelling the
shared ones again.
"""

from __future__ import annotations

from django.db import models

__all__ = ["CancellableRunStatus", "PausableRunStatus", "QueuedRunStatus", "RunStatus"]


class RunStatus(models.TextChoices):
    """A job recorded as it starts: running, then succeeded or failed."""

    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


def _extended(name: str, *, before: dict[str, tuple[str, str]],
              after: dict[str, tuple[str, str]] | None = None) -> type[models.TextChoices]:
    """``RunStatus`` with more states (member name -> (value, label)): ``before`` ahead of running, ``after``
    after failed, in the order forms and the admin list them."""
    shared = {status.name: (status.value, status.label) for status in RunStatus}
    return models.TextChoices(name, [*before.items(), *shared.items(), *(after or {}).items()])


# A job handed to a worker's queue before it runs (MD studies and their runs, relaxation jobs).
QueuedRunStatus = _extended("QueuedRunStatus", before={"QUEUED": ("queued", "Queued")})

# A job that waits until it is started and may be cancelled on request (discovery rounds).
CancellableRunStatus = _extended("CancellableRunStatus", before={"PENDING": ("pending", "Pending")},
                                 after={"CANCELLED": ("cancelled", "Cancelled")})

# A job of many rounds that may also be paused between them (discovery campaigns).
PausableRunStatus = _extended("PausableRunStatus", before={"PENDING": ("pending", "Pending")},
                              after={"PAUSED": ("paused", "Paused"), "CANCELLED": ("cancelled", "Cancelled")})
