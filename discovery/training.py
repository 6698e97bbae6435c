"""Training the GNN ensemble on the catalogue (Django glue around discovery.gnn)."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils import timezone

from materials.models import Material, Source

from .models import ModelCheckpoint


def catalogue_items(limit: int | None = None):
    """(material id, Structure, formation energy) of the GNoME materials with both (DFT labels only)."""
    from pymatgen.core import Structure

    qs = (Material.objects.filter(source=Source.GNOME, structure__isnull=False, e_form_ev_per_atom__isnull=False)
          .order_by("material_id").values_list("material_id", "structure", "e_form_ev_per_atom"))
    if limit:
        qs = qs[:limit]
    for material_id, structure, e_form in qs.iterator(chunk_size=1000):
        yield material_id, Structure.from_dict(structure), e_form


def catalogue_compositions(limit: int | None = None):
    """(material id, Composition, formation energy) of every catalogue material with a formation energy."""
    from pymatgen.core import Composition

    qs = (Material.objects.exclude(e_form_ev_per_atom=None).order_by("material_id")
          .values_list("material_id", "formula", "e_form_ev_per_atom"))
    if limit:
        qs = qs[:limit]
    for material_id, formula, e_form in qs.iterator(chunk_size=5000):
        yield material_id, Composition(formula), e_form


def active_checkpoint(kind: str = "structure") -> ModelCheckpoint | None:
    """The active ensemble of a kind (the one rounds screen with), if an admin activated one."""
    for checkpoint in ModelCheckpoint.objects.filter(active=True, status=ModelCheckpoint.Status.SUCCEEDED):
        if (checkpoint.architecture or {}).get("kind", "structure") == kind:
            return checkpoint
    return None


def hardware() -> str:
    import torch

    from .gnn.model import device

    dev = device()
    name = torch.cuda.get_device_name(0) if dev.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})"
    return f"{name}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def train_ensemble(*, members: int = 4, epochs: int = 60, width: int = 64, steps: int = 3, batch_size: int = 64,
                   learning_rate: float = 2e-3, limit: int | None = None, name: str = "gnome-gnn",
                   out: Path | None = None, activate: bool = False, progress: bool = False,
                   kind: str = "structure") -> ModelCheckpoint:
    """Train ``members`` GNNs on the catalogue's composition-hash training split; record a ModelCheckpoint.

    ``kind="composition"`` trains the compositional model instead: one example per reduced formula of the
    whole catalogue (GNoME and Materials Project phases), labelled with its lowest formation energy.
    """
    from .gnn.data import composition_examples, data_hash, examples, split_of
    from .gnn.model import GNNConfig
    from .gnn.predict import aggregate, predict_graphs
    from .gnn.train import TrainConfig, train

    started = time.perf_counter()
    out = out or Path(settings.VAR_DIR) / "models" / timezone.now().strftime("%Y%m%d-%H%M%S")
    checkpoint = ModelCheckpoint.objects.create(name=name, path=str(out), hardware=hardware())
    try:
        if kind not in {"structure", "composition"}:
            raise ValueError(f"kind must be 'structure' or 'composition', not {kind!r}")
        items, skipped = (composition_examples(catalogue_compositions(limit)) if kind == "composition"
                          else examples(catalogue_items(limit)))
        train_set = [e for e in items if split_of(e.reduced_formula) == "train"]
        test_set = [e for e in items if split_of(e.reduced_formula) == "test"]
        if not train_set or not test_set:
            raise ValueError(f"not enough data: {len(train_set)} training and {len(test_set)} test structures")
        config = GNNConfig(embedding_dim=width, mlp_widths=(width, width), steps=steps, kind=kind)
        plan = TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
        checkpoint.architecture = config.to_dict()
        checkpoint.training = {**plan.__dict__, "left_out": len(skipped), "split": "md5(reduced formula) % 100 < 85"}
        checkpoint.data_hash, checkpoint.n_train, checkpoint.n_test = data_hash(items), len(train_set), len(test_set)
        checkpoint.save()
        models, member_mae = [], []
        for member in range(members):
            def report(m, member=member):
                ModelCheckpoint.objects.filter(pk=checkpoint.pk).update(
                    progress=f"member {member + 1}/{members}, epoch {m.epoch + 1}/{epochs}, test MAE {m.test_mae:.4f}")

            model, history = train(train_set, test_set, GNNConfig.from_dict(config.to_dict()),
                                   TrainConfig(**{**plan.__dict__, "seed": member}), out / f"member-{member}",
                                   progress=progress, on_epoch=report)
            (out / f"member-{member}" / "last.pt").replace(out / f"member-{member}.pt")
            models.append(model)
            member_mae.append(history[-1].test_mae)
        targets = np.array([e.e_form for e in test_set])
        graphs = [e.graph for e in test_set]
        plain = aggregate(predict_graphs(models, graphs, volumes=None))
        tta = aggregate(predict_graphs(models, graphs)) if kind == "structure" else None
        checkpoint.metrics = {
            "test_mae_members": member_mae,
            "test_mae_ensemble_no_tta": float(np.mean(np.abs([p.e_form_ev_per_atom for p in plain] - targets))),
            "test_mae_ensemble_tta": (float(np.mean(np.abs([p.e_form_ev_per_atom for p in tta] - targets)))
                                      if tta else None),
        }
        checkpoint.status = ModelCheckpoint.Status.SUCCEEDED
        if activate:
            ModelCheckpoint.objects.exclude(pk=checkpoint.pk).filter(architecture__kind=kind).update(active=False)
            checkpoint.active = True
    except Exception as exc:
        checkpoint.status, checkpoint.error = ModelCheckpoint.Status.FAILED, str(exc)[:2000]
        raise
    finally:
        checkpoint.finished_at = timezone.now()
        checkpoint.wall_seconds = time.perf_counter() - started
        checkpoint.save()
    return checkpoint
