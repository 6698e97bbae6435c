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

from .featurize import CUTOFF_A, TTA_VOLUMES, Graph, GraphError, graph_of, tta_length_factors
from .model import GNNConfig, GNoMEModel, batch_graphs, build_model, device


def save_checkpoint(path: Path, model: GNoMEModel, **state) -> None:
    """The model's config and weights (and any training state) in one file."""
    torch.save({"config": model.config.to_dict(), "weights": model.state_dict(), **state}, path)


# Inference precisions. float32 is the default and the reference. bfloat16 runs the products in bfloat16
# (lengths and Gaussians stay float32): 1.4x the screening throughput on a CPU with AVX-512 BF16, with
# predictions within a few meV/atom of float32 (benchmarks/gnn.py prints both); on a CPU without bfloat16
# instructions it is slower, not faster.
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def load_model(path: Path, map_location=None, precision: str = "float32") -> tuple[GNoMEModel, dict]:
    """A model rebuilt from its saved config, with its weights (in ``precision``, one of PRECISIONS); and the
    rest of the checkpoint."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: one of {', '.join(PRECISIONS)}")
    data = torch.load(path, map_location=map_location or "cpu", weights_only=False)
    model = build_model(GNNConfig.from_dict(data.pop("config")))
    model.load_state_dict(data.pop("weights"))
    model.eval()
    return model.to(PRECISIONS[precision]), data


@dataclass(frozen=True)
class Prediction:
    e_form_ev_per_atom: float  # ensemble median
    iqr_ev_per_atom: float  # interquartile range over the ensemble
    members: tuple[float, ...]


# Inference is bound by memory traffic: a batch whose edge states fit in the CPU's cache runs 2.5x (width 64)
# to 3.5x (width 32) faster than a batch of 64 crystals x 20 volumes (benchmarks/gnn.py --sweep). A chunk
# holds at most this many edge-state floats (edges x embedding width), and at least one scaled graph; the volumes
# of one large crystal may be split across chunks.
EDGE_FLOATS_PER_CHUNK = 500_000


def _chunks(sizes: Sequence[int], width: int, max_floats: int):
    """(start, stop) ranges over items of the given edge counts, each within the budget (or a single item)."""
    start, floats = 0, 0
    for i, size in enumerate(sizes):
        cost = size * width
        if i > start and floats + cost > max_floats:
            yield start, i
            start, floats = i, 0
        floats += cost
    if start < len(sizes):
        yield start, len(sizes)


@torch.no_grad()
def predict_graphs(models: Sequence[GNoMEModel], graphs: Sequence[Graph], volumes: Iterable[float] | None = TTA_VOLUMES,
                   max_floats: int = EDGE_FLOATS_PER_CHUNK, fidelity: str | None = None) -> np.ndarray:
    """(models, graphs) predictions; with ``volumes`` (None: no TTA) the minimum over the scaled cells;
    ``fidelity`` the energy method to predict (None: each model's screening default).

    Graphs must come from ``graph_of(..., min_scale=smallest length factor)`` for an exact TTA. Each chunk of
    scaled graphs is batched once and goes through every model while it is in cache.
    """
    # Trained weights drive some activations into denormal floats, which x86 CPUs process many times slower;
    # flushing them to zero (|x| < 1e-38, far below any energy that matters) speeds inference up by ~30 %.
    torch.set_flush_denormal(True)
    factors = [1.0] if volumes is None else list(tta_length_factors(list(volumes)))
    out = np.empty((len(models), len(graphs) * len(factors)))
    dev = device()
    dtype = next(models[0].parameters()).dtype
    if dtype == torch.bfloat16:
        dtype = torch.float32  # lengths stay float32; the model casts its Gaussians
    width = max(m.config.embedding_dim for m in models)
    rows = [m.config.fidelity_index(fidelity) if getattr(m.config, "fidelities", ()) else None for m in models]

    def scaled_graph(item: int) -> Graph:
        return graphs[item // len(factors)].scaled(factors[item % len(factors)])

    # edge counts per (graph, volume) item, without building the scaled graphs twice
    sizes = []
    for g in graphs:
        if volumes is None:
            sizes.append(len(g.lengths) + g.n_nodes)
        else:
            sorted_lengths = np.sort(g.lengths)
            for f in factors:
                sizes.append(int(np.searchsorted(sorted_lengths, CUTOFF_A / f, side="right")) + g.n_nodes)
    for start, stop in _chunks(sizes, width, max_floats):
        # scaled graphs are made chunk by chunk: memory stays bounded
        batch = batch_graphs([scaled_graph(i) for i in range(start, stop)], dtype=dtype).to(dev)
        for m, model in enumerate(models):
            batch.fidelity = None if rows[m] is None else torch.full((batch.n_graphs,), rows[m], dtype=torch.long,
                                                                      device=dev)
            out[m, start:stop] = model.to(dev)(batch).cpu().numpy()
    return out.reshape(len(models), len(graphs), len(factors)).min(axis=2)


def aggregate(per_model: np.ndarray) -> list[Prediction]:
    """Median and interquartile range across models (axis 0)."""
    q1, median, q3 = np.percentile(per_model, [25, 50, 75], axis=0)
    return [Prediction(float(median[i]), float(q3[i] - q1[i]), tuple(map(float, per_model[:, i])))
            for i in range(per_model.shape[1])]


def predict_structures(models: Sequence[GNoMEModel], structures: Sequence, volumes=TTA_VOLUMES,
                       max_floats: int = EDGE_FLOATS_PER_CHUNK, fidelity: str | None = None) -> list[Prediction | str]:
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
        for slot, prediction in zip(slots, aggregate(predict_graphs(models, graphs, volumes, max_floats, fidelity)),
                                      strict=True):
            results[slot] = prediction
    return results
