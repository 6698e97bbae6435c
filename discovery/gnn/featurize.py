"""Crystal graphs for the GNoME structural model: pure, no Django.

One node per atom of the cell; a directed edge j -> i for every periodic image of j within the cutoff (4 Å)
of i, as GNoME. Edges carry their length; the model expands it in Gaussians. For test-time augmentation the
lattice is scaled isotropically (volume factors 0.8 to 1.2): lengths scale by the same factor, so one
neighbour search at cutoff / smallest factor serves every scale (``graph_of(..., min_scale=...)``) and each
scale keeps the edges within the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CUTOFF_A = 4.0
NUM_ELEMENTS = 94  # one-hot over Z = 1..94, as GNoME
MAX_SITES = 400  # a cell larger than this is refused (memory of one graph)
TTA_VOLUMES = np.linspace(0.8, 1.2, 20)  # the paper's 20 volumes, 80 % to 120 %


class GraphError(ValueError):
    """A structure the model cannot take (the message says why)."""


@dataclass(frozen=True)
class Graph:
    species: np.ndarray  # (n,) int, Z - 1
    senders: np.ndarray  # (E,) int
    receivers: np.ndarray  # (E,) int
    lengths: np.ndarray  # (E,) float, Å, at the input cell
    weights: np.ndarray | None = None  # (n,) atomic fractions: composition graphs only (one node per element)

    @property
    def n_nodes(self) -> int:
        return len(self.species)

    def scaled(self, length_factor: float, cutoff: float = CUTOFF_A) -> Graph:
        """The graph of the cell scaled by ``length_factor`` (edges beyond the cutoff dropped)."""
        lengths = self.lengths * length_factor
        keep = lengths <= cutoff
        return Graph(self.species, self.senders[keep], self.receivers[keep], lengths[keep], self.weights)


def graph_of(structure, cutoff: float = CUTOFF_A, min_scale: float = 1.0) -> Graph:
    """The graph of a pymatgen Structure; ``min_scale`` (a length factor <= 1) widens the neighbour search so
    that ``Graph.scaled`` is exact down to that factor.

    Raises:
        GraphError: disordered sites, an element beyond Z=94, more than MAX_SITES sites, or an atom with no
            neighbour within the cutoff (at the input cell).
    """
    if not structure.is_ordered:
        raise GraphError("disordered sites (partial occupancy): the model takes ordered crystals only")
    n = len(structure)
    if n == 0:
        raise GraphError("no sites")
    if n > MAX_SITES:
        raise GraphError(f"{n} sites: more than the {MAX_SITES} the model takes")
    numbers = np.array([site.specie.Z for site in structure])
    if numbers.max() > NUM_ELEMENTS:
        heavy = sorted({site.specie.symbol for site in structure if site.specie.Z > NUM_ELEMENTS})
        raise GraphError(f"element(s) beyond Z={NUM_ELEMENTS}: {', '.join(heavy)}")
    radius = cutoff / min(min_scale, 1.0)
    centres, neighbours, _, distances = structure.get_neighbor_list(radius)
    within = distances <= cutoff
    lonely = np.setdiff1d(np.arange(n), centres[within])
    if len(lonely):
        site = structure[int(lonely[0])]
        raise GraphError(f"atom {int(lonely[0])} ({site.specie.symbol}) has no neighbour within {cutoff} Å")
    # edge j -> i: the neighbour sends, the centre receives
    return Graph(species=numbers - 1, senders=neighbours.astype(np.int64), receivers=centres.astype(np.int64),
                 lengths=distances.astype(np.float64))


def composition_graph(composition) -> Graph:
    """The graph of a composition for the compositional model: one node per element, weighted by its atomic
    fraction, no edges (GNoME's released code disables edges when there are no positions).

    Raises:
        GraphError: an element beyond Z=94, or an empty composition.
    """
    amounts = {el: amt for el, amt in composition.element_composition.items() if amt > 0}
    if not amounts:
        raise GraphError("empty composition")
    heavy = sorted(el.symbol for el in amounts if el.Z > NUM_ELEMENTS)
    if heavy:
        raise GraphError(f"element(s) beyond Z={NUM_ELEMENTS}: {', '.join(heavy)}")
    elements = sorted(amounts, key=lambda el: el.Z)
    total = sum(amounts.values())
    empty = np.zeros(0, dtype=np.int64)
    return Graph(species=np.array([el.Z - 1 for el in elements]), senders=empty, receivers=empty,
                 lengths=np.zeros(0), weights=np.array([amounts[el] / total for el in elements]))


def tta_length_factors(volumes=TTA_VOLUMES) -> np.ndarray:
    """Lattice length factors of the TTA volume factors (v^(1/3))."""
    return np.cbrt(np.asarray(volumes, dtype=float))
