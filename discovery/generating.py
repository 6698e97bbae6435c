"""Candidate generation from the catalogue (Django glue around discovery.generation).

Seeds are crystals of the catalogue; novelty is checked against every reduced formula the catalogue holds;
the compositional pipeline places compositions on the current "all" hull.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.db.models import Q

from materials.chemsys import ChemsysError, chemsys_elements, subsystems_of
from materials.models import Material

from .generation.candidates import Candidate, GenerationError

GENERATORS = ("substitution", "saps", "neighbour", "compositional")
RELEASED_COMPOSITION = Path(__file__).resolve().parent / "gnn" / "released-composition"


def parse_chemsys(text: str) -> list[str]:
    """Sorted element symbols of 'Li-P-S' (``materials.chemsys``); a GenerationError names what is wrong."""
    try:
        return chemsys_elements(text)
    except ChemsysError as exc:
        raise GenerationError(str(exc)) from None


def seed_materials(*, material_ids: Iterable[str] = (), chemsys: Iterable[str] = (), stable_only: bool = True,
                   max_seeds: int | None = None) -> list[tuple[str, object]]:
    """(material id, Structure) of the seeds: the given ids (always), and the crystals whose elements all lie
    within one of the chemical systems (stable on the "all" hull unless ``stable_only`` is off), at most
    ``max_seeds`` of those, in id order."""
    from pymatgen.core import Structure

    ids = list(material_ids)
    found: dict[str, object] = {}
    in_systems: dict[str, object] = {}
    if ids:
        rows = dict(Material.objects.filter(material_id__in=ids).values_list("material_id", "structure"))
        missing = [i for i in ids if i not in rows]
        if missing:
            raise GenerationError(f"no such material: {', '.join(missing)}")
        without = [i for i in ids if rows[i] is None]
        if without:
            raise GenerationError(f"no structure to substitute (an energy-only hull phase): {', '.join(without)}")
        found.update(rows)
    for system in chemsys:
        qs = Material.objects.filter(chemsys__in=subsystems_of(parse_chemsys(system)), structure__isnull=False,
                                     nelements__gte=2)
        if stable_only:
            qs = qs.filter(Q(stabilities__hull_set="all") & Q(stabilities__is_stable=True))
        qs = qs.order_by("material_id").values_list("material_id", "structure")
        for material_id, structure in qs[: max_seeds] if max_seeds else qs:
            in_systems.setdefault(material_id, structure)
    chosen = sorted(in_systems.items())[: max_seeds or None]
    seeds = sorted({**dict(chosen), **found}.items())
    return [(material_id, Structure.from_dict(structure)) for material_id, structure in seeds]


def known_formulas() -> frozenset[str]:
    """Every reduced formula of the catalogue (the novelty filter's reference)."""
    return frozenset(Material.objects.values_list("formula_reduced", flat=True).distinct())


def hull_placer(hull_set: str = "all"):
    """A callable (composition, formation energy per atom) -> energy above the current hull, or None when the
    composition has an element without reference."""
    from hullapi.engine import NotPlaceableError
    from hullapi.services import hull_index
    from materials.importing import references
    from materials.science import energy_from_formation

    refs = references()
    _, index = hull_index(hull_set)

    def e_above_hull(composition, e_form_ev_per_atom: float) -> float | None:
        energy = energy_from_formation(e_form_ev_per_atom, composition, refs)
        if energy is None:
            return None
        try:
            return index.query(composition, energy_ev=energy).e_above_hull_ev_per_atom
        except NotPlaceableError:
            return None

    return e_above_hull


def composition_models(path: Path | None = None) -> list:
    """The compositional ensemble: ``path``, else the active compositional checkpoint, else the released one."""
    from .gnn.predict import load_model
    from .training import active_checkpoint

    if path is None:
        checkpoint = active_checkpoint("composition")
        path = Path(checkpoint.path) if checkpoint else RELEASED_COMPOSITION
    members = sorted(path.glob("member-*.pt"))
    if not members:
        raise GenerationError(f"no compositional model in {path}: train one with "
                              "`manage.py train_gnn --kind composition --activate`")
    return [load_model(m)[0] for m in members]


def generate(method: str, *, seeds: list[tuple[str, object]] = (), chemsys: Iterable[str] = (),
             options: dict | None = None, on_skip=None) -> Iterator[Candidate]:
    """The raw candidate stream of one generator (before novelty and deduplication).

    A seed a generator cannot take (e.g. no oxidation states to guess) is reported to ``on_skip(seed id,
    reason)`` and skipped; the others go on.
    """
    from .generation import saps as saps_module
    from .generation import substitution as substitution_module

    options = dict(options or {})
    if method not in GENERATORS:
        raise GenerationError(f"unknown generator {method!r}: one of {', '.join(GENERATORS)}")
    if method == "compositional":
        from .generation.compositional import compositional_candidates

        systems = list(chemsys)
        if not systems:
            raise GenerationError("the compositional generator needs a chemical system (--chemsys)")
        models, placer = composition_models(), hull_placer()
        for system in systems:
            yield from compositional_candidates(parse_chemsys(system), models, placer, **options)
        return
    if not seeds:
        raise GenerationError(f"the {method} generator needs seeds (material ids or a chemical system with crystals)")
    from materials.importing import references

    from .generation.candidates import UNSTABLE_ELEMENTS
    from .generation.neighbours import neighbour_swaps

    # only elements the hull can place (an elemental reference), and none without a stable isotope unless the
    # caller lists them in "allowed"
    known = frozenset(references())
    allowed = (known - UNSTABLE_ELEMENTS) | (frozenset(options.pop("allow_elements", None) or ()) & known)
    make = {"neighbour": neighbour_swaps, "substitution": substitution_module.substitutions,
            "saps": saps_module.saps}[method]
    make = functools.partial(make, allowed=allowed)
    for seed_id, structure in seeds:
        try:
            yield from make(structure, seed_id, **options)
        except GenerationError as exc:
            if on_skip is None:
                raise
            on_skip(seed_id, str(exc))
