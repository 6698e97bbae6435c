"""A synthetic catalogue for load tests: element substitutions of real GNoME structures. Pure (no Django).

Each synthetic material is a real sample crystal with one or two of its elements replaced, every site of an
element at once, by a chemically close element that the crystal does not contain (same group, one period up or
down; for the d and f blocks also a neighbour in the period). Replacing all sites of an element by an element
not yet present keeps every symmetry operation, so the space group, crystal system and point group are the
parent's; the cell is the parent's, so the density follows the new masses. Compositions, element counts and
cell sizes therefore follow the real distribution, which is what makes the database's queries, indexes and
hull behave as they would with the full release.

The energy is the parent's DFT formation energy plus Gaussian noise (0.03 eV/atom): realistic in spread and
on the hull's scale, but not a calculation. Every such material has its own source (``scale``), dataset and
energy method, so that it is never mistaken for real data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from itertools import combinations

import numpy as np
from pymatgen.core import Composition, Element

from .science import composition_fields, energy_from_formation

SCALE_DATASET = "Scale test: element substitutions of the GNoME sample (synthetic, not real data)"
SCALE_METHOD = "synthetic: parent's DFT energy + 0.03 eV/atom noise (not a calculation)"
ENERGY_NOISE_EV_PER_ATOM = 0.03
MAX_Z = 94


@cache
def substitutes(symbol: str) -> tuple[str, ...]:
    """Elements that may replace ``symbol``: its group one period up and down, then (d and f blocks) its
    neighbours in the period; none beyond Z=94 and no noble gas."""
    element = Element(symbol)
    found: list[Element] = []
    for candidate in Element:
        if candidate.Z > MAX_Z or candidate == element or candidate.is_noble_gas:
            continue
        same_group = candidate.group == element.group and abs(candidate.row - element.row) == 1
        neighbour = (element.block in ("d", "f") and candidate.block == element.block
                     and candidate.row == element.row and abs(candidate.Z - element.Z) == 1)
        if same_group or neighbour:
            found.append(candidate)
    return tuple(c.symbol for c in sorted(found, key=lambda c: (abs(c.Z - element.Z), c.Z)))


def variants(elements: Sequence[str], refs: Mapping[str, float]) -> list[dict[str, str]]:
    """Every substitution of a crystal made of ``elements``: single replacements first, then pairs; only to
    elements with a reference (so that each variant is placed on the hull) and not already present."""
    present = set(elements)
    options = {el: [s for s in substitutes(el) if s in refs and s not in present] for el in sorted(elements)}
    singles = [{el: new} for el in sorted(options) for new in options[el]]
    pairs = [{a: x, b: y} for a, b in combinations(sorted(options), 2)
             for x in options[a] for y in options[b] if x != y]
    return singles + pairs


def plan(parents: Sequence[Sequence[str]], n: int, refs: Mapping[str, float]) -> list[tuple[int, int]]:
    """(parent index, variant index) of ``n`` synthetic materials from parents made of the given elements,
    round-robin over the parents (so that the
    set follows the parents' distribution rather than exhausting the most substitutable ones first).

    Raises:
        ValueError: when the parents do not have ``n`` distinct variants between them.
    """
    counts = [len(variants(elements, refs)) for elements in parents]
    if sum(counts) < n:
        raise ValueError(f"the {len(parents)} parents have {sum(counts)} substitution variants, fewer than the "
                         f"{n} asked for")
    chosen: list[tuple[int, int]] = []
    depth = 0
    while len(chosen) < n:
        for p, count in enumerate(counts):
            if depth < count:
                chosen.append((p, depth))
                if len(chosen) == n:
                    break
        depth += 1
    return chosen


def scale_id(number: int) -> str:
    return f"scale-{number:07d}"


def derive(parent: Mapping, mapping: Mapping[str, str], number: int, refs: Mapping[str, float], seed: int = 0) -> dict:
    """The catalogue fields of synthetic material ``number``: ``parent`` (a stored GNoME material's
    fields: material_id, structure, e_form_ev_per_atom, density_g_cm3, symmetry, dimensionality) with the
    elements of ``mapping`` replaced."""
    structure = parent["structure"]
    sites = []
    counts: dict[str, float] = {}
    for site in structure["sites"]:
        species = [{**sp, "element": mapping.get(sp["element"], sp["element"])} for sp in site["species"]]
        for sp in species:
            counts[sp["element"]] = counts.get(sp["element"], 0.0) + sp.get("occu", 1)
        label = site.get("label")
        sites.append({**site, "species": species, "label": mapping.get(label, label)})
    comp = Composition(counts)
    fields = composition_fields(comp)
    old_weight = Composition(parent["formula"]).weight
    rng = np.random.default_rng([seed, number])
    e_form = float(parent["e_form_ev_per_atom"]) + float(rng.normal(0.0, ENERGY_NOISE_EV_PER_ATOM))
    material_id = scale_id(number)
    fields.update(
        material_id=material_id,
        structure={**structure, "sites": sites},
        volume_a3=parent["volume_a3"],
        density_g_cm3=float(parent["density_g_cm3"]) * float(comp.weight) / float(old_weight),
        spacegroup_number=parent["spacegroup_number"],
        spacegroup_symbol=parent["spacegroup_symbol"],
        crystal_system=parent["crystal_system"],
        point_group=parent["point_group"],
        band_gap_ev=None,
        dimensionality=parent["dimensionality"],
        e_form_ev_per_atom=e_form,
        energy_corrected_ev=energy_from_formation(e_form, comp, refs),
        energy_method=SCALE_METHOD,
        energy_note="synthetic scale-test material: not real data",
        extra={"scale": {"parent": parent["material_id"], "substitution": dict(sorted(mapping.items())),
                         "inherited": "space group, cell, dimensionality from the parent"}},
    )
    fields["row_hash"] = hashlib.sha256(f"{parent['material_id']}|{sorted(mapping.items())}|{seed}".encode()).hexdigest()
    return fields


def derive_many(parents: Sequence[Mapping], refs: Mapping[str, float], jobs: Sequence[tuple[int, int, int]],
                seed: int = 0) -> Iterator[dict]:
    """``derive`` for ``(number, parent index, variant index)`` jobs."""
    cache: dict[int, list[dict[str, str]]] = {}
    for number, p, v in jobs:
        parent = parents[p]
        if p not in cache:
            cache[p] = variants(parent["elements"], refs)
        yield derive(parent, cache[p][v], number, refs, seed)
