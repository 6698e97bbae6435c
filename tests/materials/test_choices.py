"""Shared labels, defined once: the run status of every job row (``materials.choices``), the Cheon dimensionality
labels (``materials.dimensionality``) and the screen outcomes (``materials.screens``), as the models, the query
parameters and the screens use them. No database."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from discovery.models import DiscoveryRound, MDRun, MDStudy, ModelCheckpoint, RelaxJob, TrainingBatch
from hullapi.models import HullRun
from materials import dimensionality, query, screens
from materials.choices import CancellableRunStatus, QueuedRunStatus, RunStatus
from materials.models import ImportRun, ScreenRun

SHARED = [("running", "Running"), ("succeeded", "Succeeded"), ("failed", "Failed")]


def test_it_gives_every_job_the_same_running_succeeded_and_failed():
    assert RunStatus.choices == SHARED
    for model in (ImportRun, ScreenRun, HullRun, ModelCheckpoint, TrainingBatch):
        assert model.Status is RunStatus, model
    for model in (MDStudy, RelaxJob):
        assert model.Status is QueuedRunStatus, model
    assert DiscoveryRound.Status is CancellableRunStatus


def test_it_keeps_the_stored_values_of_the_jobs_that_wait_or_can_be_cancelled():
    assert QueuedRunStatus.choices == [("queued", "Queued"), *SHARED]
    assert CancellableRunStatus.choices == [("pending", "Pending"), *SHARED, ("cancelled", "Cancelled")]
    assert QueuedRunStatus.RUNNING == RunStatus.RUNNING == CancellableRunStatus.RUNNING == "running"
    assert CancellableRunStatus.CANCELLED.label == "Cancelled"
    with pytest.raises(ValueError):
        RunStatus("queued")


@pytest.mark.parametrize("model, default", [
    (ImportRun, "running"), (ScreenRun, "running"), (HullRun, "running"), (ModelCheckpoint, "running"),
    (TrainingBatch, "running"), (MDStudy, "queued"), (MDRun, "queued"), (RelaxJob, "queued"),
    (DiscoveryRound, "pending"),
])
def test_each_status_column_offers_its_models_states(model, default):
    field = model._meta.get_field("status")
    statuses = MDStudy.Status if model is MDRun else model.Status
    assert field.choices == statuses.choices
    assert field.default == default


def _cubic(species, coords, a):
    return Structure(Lattice.cubic(a), species, coords)


def test_the_algorithm_gives_only_the_defined_labels():
    copper = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])  # a bonded 3D metal
    dimer = _cubic(["H", "H"], [[0, 0, 0], [0, 0, 0.74 / 12]], 12.0)  # an H2 molecule in a 12 Å box
    lone = _cubic(["Xe"], [[0, 0, 0]], 12.0)  # one atom, bonded to nothing
    found = {dimensionality.cheon_dimensionality(s) for s in (copper, dimer, lone)}
    assert found == {dimensionality.THREE_D, dimensionality.ZERO_D, dimensionality.INTERCALATED_ION}
    assert found <= set(dimensionality.LABELS)
    assert dimensionality.LAYERED == "2D"
    assert dimensionality.STORED_LABELS == (*dimensionality.LABELS, "undetermined")


def test_the_query_and_the_layered_screen_use_the_stored_labels():
    accepted = query.parse({"dimensionality": "2D,undetermined"}).q
    assert "('dimensionality__in', ['2D', 'undetermined'])" in str(accepted)
    with pytest.raises(query.QueryError) as caught:
        query.parse({"dimensionality": "4D"})
    assert "unknown dimensionality '4D'" in caught.value.message
    assert ", ".join(dimensionality.STORED_LABELS) in caught.value.message
    layered = {stage.name: stage for stage in screens.LAYERED}["layered"]
    for label, result in [("2D", screens.PASS), ("3D", screens.FAIL), ("undetermined", screens.UNKNOWN),
                          ("", screens.UNKNOWN)]:
        record = screens.Record("m", "gnome", ("Mo", "S"), 0.0, 0.0, dimensionality=label)
        assert layered.test(record, screens.Criteria())[0] == result, label


def test_the_query_knows_each_screen_outcome():
    assert screens.OUTCOMES == ("candidate", "unknown", "failed")
    with pytest.raises(query.QueryError) as caught:
        query.parse({"screen": "li_conductor", "screen_outcome": "maybe"})
    assert caught.value.message == "unknown outcome 'maybe'; one of candidate, unknown, failed"
