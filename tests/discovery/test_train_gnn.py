"""Training an ensemble from the catalogue, recorded as a ModelCheckpoint; the database-free predict command."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from discovery.gnn.__main__ import main as gnn_cli
from discovery.models import ModelCheckpoint

from ..conftest import write_jsonl

pytestmark = pytest.mark.django_db


def test_train_gnn_records_an_ensemble_that_the_cli_then_uses(tmp_path, sample_rows, data_dir):
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO(), "verbosity": 0, "workers": 1}
    call_command("import_gnome", str(write_jsonl(tmp_path / "g.jsonl.gz", sample_rows)), **quiet)
    out = io.StringIO()
    call_command("train_gnn", members=2, epochs=2, width=16, steps=2, batch_size=16, out=tmp_path / "ens",
                 activate=True, stdout=out, verbosity=0)
    checkpoint = ModelCheckpoint.objects.get()
    assert checkpoint.status == "succeeded" and checkpoint.active
    from materials.models import Material

    labelled = Material.objects.filter(source="gnome", e_form_ev_per_atom__isnull=False).count()
    assert checkpoint.n_train + checkpoint.n_test + checkpoint.training["left_out"] == labelled
    assert checkpoint.n_test > 0 and checkpoint.n_train > 4 * checkpoint.n_test
    assert len(checkpoint.metrics["test_mae_members"]) == 2 and checkpoint.metrics["test_mae_ensemble_tta"] > 0
    assert "CPU" in checkpoint.hardware or "cuda" in checkpoint.hardware.lower()
    assert f"ensemble #{checkpoint.pk}" in out.getvalue()

    members = sorted((tmp_path / "ens").glob("member-*.pt"))
    assert len(members) == 2
    source = write_jsonl(tmp_path / "few.jsonl.gz", sample_rows[:5])
    args = ["predict", str(source), "--out", str(tmp_path / "pred.csv")]
    for member in members:
        args += ["--checkpoint", str(member)]
    assert gnn_cli(args) == 0
    with open(tmp_path / "pred.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["material_id"] for r in rows] == [r["material_id"] for r in sample_rows[:5]]
    assert all(float(r["e_form_iqr_ev_per_atom"]) >= 0 and r["e_form_pred_ev_per_atom"] for r in rows)


def test_train_gnn_refuses_bad_options_and_empty_catalogues():
    with pytest.raises(CommandError, match="--members must be at least 1"):
        call_command("train_gnn", members=0, stdout=io.StringIO())
    with pytest.raises(CommandError, match="not enough data"):
        call_command("train_gnn", members=1, epochs=1, stdout=io.StringIO())
    assert ModelCheckpoint.objects.get().status == "failed"


def test_a_compositional_ensemble_from_the_catalogue_drives_the_compositional_generator(tmp_path, catalogue):
    from hullapi import services
    from hullapi.models import HullSet

    services.recompute(HullSet.ALL)
    call_command("train_gnn", kind="composition", members=2, epochs=3, width=16, steps=2, out=tmp_path / "comp",
                 activate=True, stdout=io.StringIO(), verbosity=0)
    checkpoint = ModelCheckpoint.objects.get()
    assert checkpoint.architecture["kind"] == "composition" and checkpoint.active
    assert checkpoint.metrics["test_mae_ensemble_tta"] is None and checkpoint.metrics["test_mae_ensemble_no_tta"] > 0
    from materials.models import Material

    formulas = set(Material.objects.exclude(e_form_ev_per_atom=None).values_list("formula_reduced", flat=True))
    assert checkpoint.n_train + checkpoint.n_test == len(formulas)  # one example per composition, MP phases too
    out = tmp_path / "random.jsonl"
    log = io.StringIO()
    call_command("generate", method="compositional", chemsys=["Li-O"], n_structures=2, max_atoms=4, limit=4,
                 hull_threshold=1.0, out=out, stdout=log)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records and all(r["method"] == "random" and r["parent"] == r["reduced_formula"] for r in records)
    assert not {r["reduced_formula"] for r in records} & formulas  # novel compositions only
