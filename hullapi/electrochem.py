"""Electrochemical stability window of a Li-containing phase from the convex hull: pure, no Django.

The method of Zhu, He and Mo (ACS Appl. Mater. Interfaces 2015) and Richards et al. (Chem. Mater. 2016):
the phase is in equilibrium with a lithium reservoir at chemical potential mu_Li (the grand-potential
phase diagram open to Li) over a range [mu_ox, mu_red]. Below mu_ox it gives up Li (oxidation), above
mu_red it takes Li up (reduction). Against Li metal, V = -(mu_Li - mu_Li(metal)) / e, so the window is
[V_red, V_ox] volts vs Li/Li+ (Li metal is 0 V).

The two limits are the Li chemical potentials of the hull facets on either side of the phase along the
line that adds or removes Li from its composition (pymatgen's ``PhaseDiagram.get_composition_chempots``
just Li-poorer and just Li-richer than the phase, as ``get_element_profile`` does). A phase above the
hull has no window of its own; it is lowered onto the hull first (by its energy above hull plus
``SHIFT_EV_PER_ATOM``) and the shift is reported, as Richards et al. do for metastable electrolytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Element

SHIFT_EV_PER_ATOM = 1e-4  # how far below the hull a metastable phase is put (0.1 meV/atom: 0.1 mV)
STEP = 1e-4  # fraction of Li added or removed to probe the facets on either side


@dataclass(frozen=True)
class Window:
    reduction_v: float  # lower limit, V vs Li/Li+: Li is taken up below it
    oxidation_v: float  # upper limit: Li is given up above it
    shifted_ev_per_atom: float  # 0 for a phase on the hull; else how far it was lowered onto the hull
    reduction_products: tuple[str, ...]  # phases in equilibrium just below the reduction limit (ids)
    oxidation_products: tuple[str, ...]

    @property
    def width_v(self) -> float:
        return self.oxidation_v - self.reduction_v


def li_window(
    target: tuple[str, Composition | str, float],
    phases: Iterable[tuple[str, Composition | str, float]],
    refs: Mapping[str, float],
    *,
    element: str = "Li",
) -> Window:
    """The window of ``target`` = (id, composition, total corrected energy in eV) against ``phases``.

    ``phases`` are the hull phases of the target's chemical system and its subsystems (more do no harm);
    ``refs`` the elemental reference energies per atom, used for elements without a phase.

    Raises:
        ValueError: the target contains no ``element``, or an element has neither a phase nor a reference.
    """
    target_id, target_comp, target_energy = target
    target_comp = Composition(target_comp)
    li = Element(element)
    if target_comp[li] <= 0:
        raise ValueError(f"{target_id} contains no {element}")
    elements = {el.symbol for el in target_comp.elements}
    entries = []
    for entry_id, comp, energy in phases:
        comp = Composition(comp)
        if entry_id != target_id and {el.symbol for el in comp.elements} <= elements:
            entries.append(PDEntry(comp, energy, name=entry_id))
    for symbol in sorted(elements):
        if symbol not in refs:
            raise ValueError(f"no reference energy for {symbol}")
        entries.append(PDEntry(Composition(symbol), refs[symbol], name=f"ref:{symbol}"))

    pd = PhaseDiagram(entries)
    per_atom = target_energy / target_comp.num_atoms
    hull = pd.get_hull_energy_per_atom(target_comp)
    shift = max(0.0, per_atom - hull + SHIFT_EV_PER_ATOM)
    candidate = PDEntry(target_comp, (per_atom - shift) * target_comp.num_atoms, name=target_id)
    pd = PhaseDiagram([*entries, candidate])

    point = target_comp.fractional_composition
    step = Composition({li: STEP})
    mu_metal = pd.el_refs[li].energy_per_atom
    mu_red = pd.get_composition_chempots(point + step)[li]
    mu_ox = pd.get_composition_chempots(point - step)[li]

    def products(comp: Composition) -> tuple[str, ...]:
        return tuple(sorted(e.name for e in pd.get_decomposition(comp)))

    return Window(
        reduction_v=max(0.0, -(mu_red - mu_metal)),
        oxidation_v=-(mu_ox - mu_metal),
        shifted_ev_per_atom=shift if shift > SHIFT_EV_PER_ATOM else 0.0,
        reduction_products=products(point + step),
        oxidation_products=products(point - step),
    )
