"""Ensemble and test-time-augmented prediction, and checkpoints: pure, no Django.

Per model, the prediction of a structure is the minimum over the TTA volumes (the paper's "aggregate by
minimum", emulating a relaxation of an unrelaxed candidate); across the ensemble, the median, with the
interquartile range as the uncertainty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .featurize import TTA_VOLUMES, Graph, GraphError, graph_of, tta_length_factors
from .model import GNNConfig, GNoMEModel, batch_graphs, build_model, device


def save_checkpoint(path: Path, model: GNoMEModel, **state) -> None:
    """The model's config and weights (and any training state) in one file."""
    torch.save({"config": model.config.to_dict(), "weights": model.state_dict(), **state}, path)


def load_model(path: Path, map_location=None) -> tuple[GNoMEModel, dict]:
    """A model rebuilt from its saved config, with its weights; and the rest of the checkpoint."""
    data = torch.load(path, map_location=map_location or "cpu", weights_only=False)
    model = build_model(GNNConfig.from_dict(data.pop("config")))
    model.load_state_dict(data.pop("weights"))
    model.eval()
    return model, data


@dataclass(frozen=True)
class Prediction:
    e_form_ev_per_atom: float  # ensemble median
    iqr_ev_per_atom: float  # interquartile range over the ensemble
    members: tuple[float, ...]


# Inference is bound by memory traffic: a batch whose edge states fit in the CPU's cache runs 2.5x (width 64)
# to 3.5x (width 32) faster than a batch of 64 crystals x 20 volumes (benchmarks/gnn.py --sweep). A chunk
# holds at most this many edge-state floats (edges x 20 volumes x embedding width), and at least one crystal.
EDGE_FLOATS_PER_CHUNK = 500_000


def _chunks(graphs: Sequence[Graph], n_volumes: int, width: int, max_floats: int):
    start, floats = 0, 0
    for i, graph in enumerate(graphs):
        cost = (len(graph.lengths) + graph.n_nodes) * n_volumes * width
        if i > start and floats + cost > max_floats:
            yield start, i
            start, floats = i, 0
        floats += cost
    if start < len(graphs):
        yield start, len(graphs)


@torch.no_grad()
def predict_graphs(models: Sequence[GNoMEModel], graphs: Sequence[Graph], volumes: Iterable[float] | None = TTA_VOLUMES,
                   max_floats: int = EDGE_FLOATS_PER_CHUNK) -> np.ndarray:
    """(models, graphs) predictions; with ``volumes`` (None: no TTA) the minimum over the scaled cells.

    Graphs must come from ``graph_of(..., min_scale=smallest length factor)`` for an exact TTA. Each chunk of
    graphs is batched once and goes through every model while it is in cache.
    """
    factors = [1.0] if volumes is None else list(tta_length_factors(list(volumes)))
    out = np.empty((len(models), len(graphs)))
    dev = device()
    width = max(m.config.embedding_dim for m in models)
    for start, stop in _chunks(graphs, len(factors), width, max_floats):
        chunk = graphs[start:stop]
        scaled = [g.scaled(f) for g in chunk for f in factors]
        batch = batch_graphs(scaled, dtype=next(models[0].parameters()).dtype).to(dev)
        for m, model in enumerate(models):
            values = model.to(dev)(batch).cpu().numpy().reshape(len(chunk), len(factors))
            out[m, start:stop] = values.min(axis=1)
    return out


def aggregate(per_model: np.ndarray) -> list[Prediction]:
    """Median and interquartile range across models (axis 0)."""
    q1, median, q3 = np.percentile(per_model, [25, 50, 75], axis=0)
    return [Prediction(float(median[i]), float(q3[i] - q1[i]), tuple(map(float, per_model[:, i])))
            for i in range(per_model.shape[1])]


def predict_structures(models: Sequence[GNoMEModel], structures: Sequence, volumes=TTA_VOLUMES,
                       max_floats: int = EDGE_FLOATS_PER_CHUNK) -> list[Prediction | str]:
    """A Prediction per structure, or the reason it could not be predicted (the rest of the batch goes on)."""
    min_scale = 1.0 if volumes is None else float(tta_length_factors([min(volumes)])[0])
    graphs, slots, results = [], [], []
    for structure in structures:
        try:
            graphs.append(graph_of(structure, min_scale=min_scale))
            slots.append(len(results))
            results.append(None)
        except GraphError as exc:
            results.append(str(exc))
    if graphs:
        for slot, prediction in zip(slots, aggregate(predict_graphs(models, graphs, volumes, max_floats)), strict=True):
            results[slot] = prediction
    return results
