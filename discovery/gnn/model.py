"""The GNoME structural graph network in PyTorch (reference: gnome_method.md section 4.1): pure, no Django.

Distance-only, hence E(3)-invariant, graph network with node, edge and global states (Battaglia et al. form):

- inputs: one-hot element (94) per node, 30 Gaussians of the edge length (centres 0.05..4.0 Å, width 0.5),
  a zero global; three separate linear embeddings;
- ``steps - 1`` blocks and one readout block, each updating edges ([e, x_s, x_r, u]), then nodes ([x, sum of
  edges sent, sum of edges received, u], sums divided by the average coordination 17), then the global
  ([mean of nodes, edge sum / 17 / n_node, u], also in the readout block, unlike GNoME's code, so that a
  supercell has the energy per atom of its cell); shallow MLPs with swish of learnable beta; no residuals, no
  normalisation layers;
- the readout's global MLP ends in one value y per graph: formation energy per atom = scale * y + shift.

Hyperparameters live in ``GNNConfig``; a model is rebuilt from its saved config alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .featurize import CUTOFF_A, NUM_ELEMENTS

AVERAGE_EDGE_COORDINATION = 17.0
N_GAUSSIANS = 30
GAUSSIAN_WIDTH_A = 0.5


@dataclass
class GNNConfig:
    embedding_dim: int = 64
    mlp_widths: tuple[int, ...] = (64, 64)
    steps: int = 3  # message-passing blocks, the readout block included
    cutoff: float = CUTOFF_A
    shift: float = -1.6526496  # eV/atom (GNoME's); set from the training data's mean
    scale: float = 1.0  # eV/atom; set from the training data's standard deviation
    kind: str = "structure"  # "structure" (GNoMEModel) or "composition" (CompositionModel)
    extra: dict = field(default_factory=dict)
    # Energy methods the model tells apart ("dft", "CHGNet 0.3.0", ...): a learned offset and global-state input
    # per method. Empty: one method only (the labels it was trained on). ``screen_fidelity`` is the one a
    # prediction gives unless asked for another (the evaluator's: screening predicts what it will say).
    fidelities: tuple[str, ...] = ()
    screen_fidelity: str = ""

    def to_dict(self) -> dict:
        out = asdict(self)
        out["mlp_widths"] = list(self.mlp_widths)
        out["fidelities"] = list(self.fidelities)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> GNNConfig:
        data = dict(data)
        data["mlp_widths"] = tuple(data["mlp_widths"])
        data["fidelities"] = tuple(data.get("fidelities") or ())
        return cls(**data)

    def fidelity_index(self, fidelity: str | None) -> int:
        """The row of a fidelity (None: ``screen_fidelity``); a ValueError names one the model does not know.
        A single-method model has one row, whatever is asked."""
        if not self.fidelities:
            return 0
        name = fidelity or self.screen_fidelity or self.fidelities[0]
        if name not in self.fidelities:
            raise ValueError(f"the model does not know the energy method {name!r}: it knows "
                             f"{', '.join(self.fidelities)}")
        return self.fidelities.index(name)


class BetaSwish(nn.Module):
    """x * sigmoid(beta * x), with a learnable beta per feature (initialised to 1)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return x * torch.sigmoid(self.beta * x)
        return torch.sigmoid(x * self.beta).mul_(x)  # inference: one temporary less


class MLP(nn.Sequential):
    def __init__(self, in_dim: int, widths: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        dim = in_dim
        for width in widths[:-1]:
            linear = nn.Linear(dim, width)
            nn.init.orthogonal_(linear.weight, gain=math.sqrt(2.75))
            nn.init.zeros_(linear.bias)
            layers += [linear, BetaSwish(width)]
            dim = width
        out = nn.Linear(dim, widths[-1])
        nn.init.normal_(out.weight, std=1.0 / math.sqrt(dim))
        nn.init.zeros_(out.bias)
        layers.append(out)
        super().__init__(*layers)


def _segment_sum(values: torch.Tensor, index: torch.Tensor, count: int) -> torch.Tensor:
    out = values.new_zeros((count, values.shape[-1]))
    return out.index_add_(0, index, values)


class _Plan:
    """An MLP as (weight, bias) pairs and activations, for the fast block.

    At inference the learnable swish is folded into the linear layers: with W' = diag(beta) W and
    b' = beta b, x * sigmoid(beta x) = silu(beta x) / beta, and the 1 / beta moves into the next layer's
    columns; one fused silu per hidden layer instead of three passes. Same function (to float rounding); not
    done where some beta is about zero, nor when training.
    """

    def __init__(self, mlp: MLP) -> None:
        linears = [layer for layer in mlp if isinstance(layer, nn.Linear)]
        betas = [layer.beta for layer in mlp if isinstance(layer, BetaSwish)]
        fold = not torch.is_grad_enabled() and all(float(beta.abs().min()) > 1e-4 for beta in betas)
        self.pairs, self.betas = [], [None if fold else beta for beta in betas]
        for k, linear in enumerate(linears):
            weight, bias = linear.weight, linear.bias
            if fold and k > 0:
                weight = weight / betas[k - 1]
            if fold and k < len(betas):
                weight, bias = weight * betas[k][:, None], bias * betas[k]
            self.pairs.append((weight, bias))

    def first_parts(self, dim: int) -> list[torch.Tensor]:
        """The first layer's weight split by input block: W [a, b, c] = W_a a + W_b b + W_c c."""
        return list(self.pairs[0][0].split(dim, dim=1))

    @property
    def first_bias(self) -> torch.Tensor:
        return self.pairs[0][1]

    @property
    def last(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pairs[-1]

    def _activate(self, h: torch.Tensor, k: int) -> torch.Tensor:
        beta = self.betas[k]
        if beta is None:
            return F.silu(h, inplace=not torch.is_grad_enabled())
        return h * torch.sigmoid(beta * h) if torch.is_grad_enabled() else torch.sigmoid(h * beta).mul_(h)

    def rest(self, h: torch.Tensor) -> torch.Tensor:
        """The layers after the first, on the first layer's output."""
        for k in range(1, len(self.pairs)):
            weight, bias = self.pairs[k]
            h = torch.addmm(bias, self._activate(h, k - 1), weight.T)
        return h

    def hidden(self, h: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (the input of the last linear layer), from the first layer's output."""
        for k in range(1, len(self.pairs) - 1):
            weight, bias = self.pairs[k]
            h = torch.addmm(bias, self._activate(h, k - 1), weight.T)
        return self._activate(h, len(self.pairs) - 2)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        weight, bias = self.pairs[0]
        return self.rest(torch.addmm(bias, h, weight.T))


def _degree(index: torch.Tensor, count: int, dtype) -> torch.Tensor:
    return torch.bincount(index, minlength=count).to(dtype)


class Block(nn.Module):
    """One message-passing block, evaluated in a form that is the same function with fewer per-edge passes:

    - the first layer of each MLP takes a concatenation; it is a sum of per-part products
      (W [e, x_s, x_r, u] = W_e e + (W_s x)[s] + (W_r x + W_u u)[r]), so node and global terms are computed
      once per node or graph instead of once per edge;
    - in the first block the edge input is the linear embedding A rbf + a of the Gaussians (``embedding``):
      W_e (A rbf + a) = (W_e A) rbf + W_e a, one 30-wide product per edge instead of two;
    - the edges of a graph are the edges received by its nodes, so their sum is a sum over nodes;
    - in the readout block, edge and node states are only summed, and their MLPs end in a linear layer, so the
      sums are taken of the last hidden layer and the linear layer is applied to the sums (per node or graph
      instead of per edge);
    - at inference the swish is folded into the linear layers (``_Plan``).

    About four times as fast as the concatenating form (``forward_concatenated``, the tested reference).
    """

    def __init__(self, dim: int, widths: tuple[int, ...], readout: bool = False) -> None:
        super().__init__()
        self.dim = dim
        self.edge = MLP(4 * dim, (*widths[:-1], dim))
        self.node = MLP(4 * dim, (*widths[:-1], dim))
        self.globe = MLP(3 * dim, (*widths[:-1], 1) if readout else (*widths[:-1], dim))
        # the last linear layer moves after the sums only where it is not also the first
        self.fold_last = readout and len(widths) > 1

    def forward(self, x, e, u, senders, receivers, node_graph, edge_graph, n_node, embedding: nn.Linear | None = None):
        n_nodes, n_graphs = x.shape[0], u.shape[0]
        edge, node, globe = _Plan(self.edge), _Plan(self.node), _Plan(self.globe)
        w_e, w_s, w_r, w_u = edge.first_parts(self.dim)
        bias = edge.first_bias
        if embedding is not None:  # e holds the Gaussians
            w_e, bias = w_e @ embedding.weight, bias + w_e @ embedding.bias
        at_receiver = torch.addmm((u @ w_u.T + bias).index_select(0, node_graph), x, w_r.T)
        h = at_receiver.index_select(0, receivers).add_((x @ w_s.T).index_select(0, senders)).addmm_(e, w_e.T)
        if self.fold_last:
            # sum(W h + b) = W sum(h) + count b: the last edge layer after the sums
            h = edge.hidden(h)
            weight, bias = edge.last
            sent = torch.addmm(_degree(senders, n_nodes, h.dtype)[:, None] * bias,
                               _segment_sum(h, senders, n_nodes), weight.T)
            received = torch.addmm(_degree(receivers, n_nodes, h.dtype)[:, None] * bias,
                                   _segment_sum(h, receivers, n_nodes), weight.T)
            e = None
        else:
            e = edge.rest(h)
            sent = _segment_sum(e, senders, n_nodes)
            received = _segment_sum(e, receivers, n_nodes)
        # the sums are divided by the average coordination 17 (folded into the products below)
        w_x, w_sent, w_received, w_u = node.first_parts(self.dim)
        h = (torch.addmm((u @ w_u.T + node.first_bias).index_select(0, node_graph), x, w_x.T)
             .addmm_(sent, w_sent.T, alpha=1 / AVERAGE_EDGE_COORDINATION)
             .addmm_(received, w_received.T, alpha=1 / AVERAGE_EDGE_COORDINATION))
        if self.fold_last:
            # the node states are only averaged: the last node layer after the mean
            weight, bias = node.last
            nodes_mean = torch.addmm(bias, _segment_sum(node.hidden(h), node_graph, n_graphs) / n_node[:, None],
                                     weight.T)
            x = None
        else:
            x = node.rest(h)
            nodes_mean = _segment_sum(x, node_graph, n_graphs) / n_node[:, None]
        # edges -> global: sum / 17 / n_node in every block; a graph's edges are those its nodes receive. (GNoME's
        # code takes the edge mean divided by n_node in the readout block; that makes the energy per atom of a
        # supercell differ from the cell's.)
        edges = _segment_sum(received, node_graph, n_graphs) / AVERAGE_EDGE_COORDINATION / n_node[:, None]
        inputs = torch.cat([nodes_mean, edges, u], dim=-1)
        if self.fold_last:
            # the energy out of the last layer in float32 at least: bfloat16 would round it to ~0.01 eV/atom
            weight, bias = globe.last
            wide = torch.promote_types(inputs.dtype, torch.float32)
            weight0, bias0 = globe.pairs[0]
            u = torch.addmm(bias.to(wide), globe.hidden(torch.addmm(bias0, inputs, weight0.T)).to(wide), weight.to(wide).T)
        else:
            u = globe(inputs)
        return x, e, u

    def forward_concatenated(self, x, e, u, senders, receivers, node_graph, edge_graph, n_node):
        """The same block written with explicit concatenations (the reference the fast form is tested against)."""
        n_graphs = u.shape[0]
        e = self.edge(torch.cat([e, x[senders], x[receivers], u[edge_graph]], dim=-1))
        sent = _segment_sum(e, senders, x.shape[0]) / AVERAGE_EDGE_COORDINATION
        received = _segment_sum(e, receivers, x.shape[0]) / AVERAGE_EDGE_COORDINATION
        x = self.node(torch.cat([x, sent, received, u[node_graph]], dim=-1))
        nodes_mean = _segment_sum(x, node_graph, n_graphs) / n_node[:, None]
        edges = _segment_sum(e, edge_graph, n_graphs) / AVERAGE_EDGE_COORDINATION / n_node[:, None]
        u = self.globe(torch.cat([nodes_mean, edges, u], dim=-1))
        return x, e, u


class GNoMEModel(nn.Module):
    """Formation energy per atom of crystal graphs (a Batch from ``batch_graphs``)."""

    def __init__(self, config: GNNConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embedding_dim
        self.node_embedding = nn.Embedding(NUM_ELEMENTS, dim)  # = a linear layer on the one-hot vector
        self.node_bias = nn.Parameter(torch.zeros(dim))
        self.edge_embedding = nn.Linear(N_GAUSSIANS, dim)
        self.global_embedding = nn.Parameter(torch.zeros(dim))  # a linear layer on a zero input: its bias
        self.register_buffer("centres", torch.linspace(0.05, config.cutoff, N_GAUSSIANS), persistent=False)
        blocks = [Block(dim, config.mlp_widths) for _ in range(config.steps - 1)]
        blocks.append(Block(dim, config.mlp_widths, readout=True))
        self.blocks = nn.ModuleList(blocks)
        if config.fidelities:
            # zero at first: a model warm-started from a single-method one begins as that model for every method
            self.fidelity_embedding = nn.Parameter(torch.zeros(len(config.fidelities), dim))
            self.fidelity_offset = nn.Parameter(torch.zeros(len(config.fidelities)))

    def _fidelity(self, batch: Batch) -> torch.Tensor:
        if batch.fidelity is not None:
            return batch.fidelity
        index = self.config.fidelity_index(None)
        return torch.full((batch.n_graphs,), index, dtype=torch.long, device=batch.species.device)

    def forward(self, batch: Batch, concatenated: bool = False) -> torch.Tensor:
        dtype = self.node_bias.dtype
        # the Gaussians in the lengths' precision (float32 at least), then in the weights'
        lengths = batch.lengths if batch.lengths.dtype == torch.float64 else batch.lengths.float()
        rbf = torch.exp(-((lengths[:, None] - self.centres.to(lengths.dtype)[None, :]) ** 2) / GAUSSIAN_WIDTH_A**2)
        rbf = rbf.to(dtype)
        x = self.node_embedding(batch.species) + self.node_bias
        u = self.global_embedding.expand(batch.n_graphs, -1)
        offset = None
        if self.config.fidelities:
            fidelity = self._fidelity(batch)
            u = u + self.fidelity_embedding.index_select(0, fidelity)
            offset = self.fidelity_offset.index_select(0, fidelity)
        graph = (batch.senders, batch.receivers, batch.node_graph, batch.edge_graph, batch.n_node.to(dtype))
        if concatenated:
            e = self.edge_embedding(rbf)
            for block in self.blocks:
                x, e, u = block.forward_concatenated(x, e, u, *graph)
        else:
            x, e, u = self.blocks[0](x, rbf, u, *graph, embedding=self.edge_embedding)
            for block in self.blocks[1:]:
                x, e, u = block(x, e, u, *graph)
        energy = self.config.scale * u[:, 0] + self.config.shift
        return energy if offset is None else energy + offset.to(energy.dtype)


class CompositionBlock(nn.Module):
    """Node and global updates without edges: x <- MLP([x, u]), u <- MLP([mean of x, u])."""

    def __init__(self, dim: int, widths: tuple[int, ...], readout: bool = False) -> None:
        super().__init__()
        self.node = MLP(2 * dim, (*widths[:-1], dim))
        self.globe = MLP(2 * dim, (*widths[:-1], 1) if readout else (*widths[:-1], dim))

    def forward(self, x, u, node_graph, n_node):
        x = self.node(torch.cat([x, u[node_graph]], dim=-1))
        nodes_mean = _segment_sum(x, node_graph, u.shape[0]) / n_node[:, None]
        return x, self.globe(torch.cat([nodes_mean, u], dim=-1))


class CompositionModel(nn.Module):
    """GNoME's compositional model: formation energy per atom from the composition alone.

    One node per element; its input is the one-hot element vector times the atomic fraction (so the node
    embedding is the fraction times the element's embedding row, plus a bias). Without positions there are no
    edges, as in GNoME's released code: messages go node -> global -> node. Takes a Batch of
    ``composition_graph`` graphs.
    """

    def __init__(self, config: GNNConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embedding_dim
        self.node_embedding = nn.Embedding(NUM_ELEMENTS, dim)
        self.node_bias = nn.Parameter(torch.zeros(dim))
        self.global_embedding = nn.Parameter(torch.zeros(dim))
        blocks = [CompositionBlock(dim, config.mlp_widths) for _ in range(config.steps - 1)]
        blocks.append(CompositionBlock(dim, config.mlp_widths, readout=True))
        self.blocks = nn.ModuleList(blocks)

    def forward(self, batch: Batch) -> torch.Tensor:
        if batch.weights is None:
            raise ValueError("the compositional model takes composition graphs (with atomic fractions)")
        dtype = self.node_bias.dtype
        x = self.node_embedding(batch.species) * batch.weights[:, None].to(dtype) + self.node_bias
        u = self.global_embedding.expand(batch.n_graphs, -1)
        for block in self.blocks:
            x, u = block(x, u, batch.node_graph, batch.n_node.to(dtype))
        return self.config.scale * u[:, 0] + self.config.shift


def build_model(config: GNNConfig) -> nn.Module:
    """The model a config describes (its ``kind``)."""
    kinds = {"structure": GNoMEModel, "composition": CompositionModel}
    if config.kind not in kinds:
        raise ValueError(f"unknown model kind {config.kind!r}: one of {', '.join(kinds)}")
    return kinds[config.kind](config)


@dataclass
class Batch:
    species: torch.Tensor
    senders: torch.Tensor
    receivers: torch.Tensor
    lengths: torch.Tensor
    node_graph: torch.Tensor
    edge_graph: torch.Tensor
    n_node: torch.Tensor  # float, per graph
    n_graphs: int
    weights: torch.Tensor | None = None  # per node: atomic fractions of composition graphs
    fidelity: torch.Tensor | None = None  # per graph: the row of its energy method (None: the model's default)

    def to(self, device) -> Batch:
        return Batch(*(t.to(device) if isinstance(t, torch.Tensor) else t for t in (
            self.species, self.senders, self.receivers, self.lengths, self.node_graph, self.edge_graph, self.n_node,
            self.n_graphs, self.weights, self.fidelity)))


def batch_graphs(graphs, dtype=torch.float32, fidelity=None) -> Batch:
    """One disjoint graph of several crystal graphs (node indices offset per graph); ``fidelity`` is a row index
    per graph (or one for all), or None for the model's default."""
    import numpy as np

    n_nodes = np.array([g.n_nodes for g in graphs])
    n_edges = np.array([len(g.lengths) for g in graphs])
    offsets = np.concatenate([[0], np.cumsum(n_nodes)[:-1]])
    edge_offsets = np.repeat(offsets, n_edges)
    return Batch(
        species=torch.from_numpy(np.concatenate([g.species for g in graphs])).long(),
        senders=torch.from_numpy(np.concatenate([g.senders for g in graphs]) + edge_offsets).long(),
        receivers=torch.from_numpy(np.concatenate([g.receivers for g in graphs]) + edge_offsets).long(),
        lengths=torch.from_numpy(np.concatenate([g.lengths for g in graphs])).to(dtype),
        node_graph=torch.from_numpy(np.repeat(np.arange(len(graphs)), n_nodes)).long(),
        edge_graph=torch.from_numpy(np.repeat(np.arange(len(graphs)), n_edges)).long(),
        n_node=torch.from_numpy(n_nodes).to(dtype),
        n_graphs=len(graphs),
        weights=(torch.from_numpy(np.concatenate([g.weights for g in graphs])).to(dtype)
                 if graphs and graphs[0].weights is not None else None),
        fidelity=(None if fidelity is None else
                  torch.full((len(graphs),), int(fidelity), dtype=torch.long) if isinstance(fidelity, int | np.integer)
                  else torch.as_tensor(np.asarray(fidelity), dtype=torch.long)),
    )


def with_fidelities(model: GNoMEModel, fidelities: tuple[str, ...], screen_fidelity: str) -> GNoMEModel:
    """A copy of ``model`` that tells these energy methods apart, warm-started: every weight it had is kept
    (rows of methods it knew included), the new rows start at zero, so it first predicts as ``model`` did."""
    import copy

    config = copy.deepcopy(model.config)
    known = tuple(config.fidelities) or ("dft",)
    names = tuple(dict.fromkeys((*known, *fidelities)))
    config.fidelities, config.screen_fidelity = names, screen_fidelity
    if screen_fidelity not in names:
        raise ValueError(f"screen fidelity {screen_fidelity!r} is not among {', '.join(names)}")
    out = build_model(config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("fidelity_")}
    missing, unexpected = out.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {"fidelity_embedding", "fidelity_offset"}:
        raise ValueError(f"cannot warm-start: missing {missing}, unexpected {unexpected}")
    if model.config.fidelities:
        with torch.no_grad():
            for row, name in enumerate(model.config.fidelities):
                out.fidelity_embedding[names.index(name)] = model.fidelity_embedding[row]
                out.fidelity_offset[names.index(name)] = model.fidelity_offset[row]
    return out.to(next(model.parameters()).dtype)


def device() -> torch.device:
    """The one place the device is chosen: CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
