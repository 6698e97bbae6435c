"""Materials Project-shaped documents of the catalogue (emmet's SummaryDoc, MaterialsDoc and ThermoDoc).

Pure: each builder takes ``values()`` rows (plain dicts of ORM paths, as ``materials.query`` reads them) and
returns the JSON document the mp-api client validates with emmet-core's models; nothing here touches the
database. Field names, types and units are emmet's; what differs is said in ``warnings`` and in the fields
emmet does not have (``license``, ``source``, ``energy_method``), which the client keeps when it is asked
for plain dictionaries (``use_document_model=False``).

Energies are corrected total energies on the MP2020 GGA/GGA+U scale (thermo type ``GGA_GGA+U``): DFT for
GNoME and Materials Project rows, a machine-learned potential's for discoveries (said in ``warnings`` and
``energy_type``), the uploader's for uploads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from pymatgen.core import Composition

from .mp_ids import mp_alias

__all__ = [
    "CORE_FIELDS", "EMMET_SCHEMA_VERSION", "EXTRA_FIELDS", "SUMMARY_FIELDS", "THERMO_FIELDS", "THERMO_TYPE",
    "core_docs", "decomposition_ids", "paths_for", "placeholder_structure", "summary_docs", "thermo_doc",
]

EMMET_SCHEMA_VERSION = "0.87.2"  # the emmet-core whose document models these documents follow (requirements.in)
THERMO_TYPE = "GGA_GGA+U"  # MP2020-corrected GGA/GGA+U: the one energy scale of this catalogue
SYMPREC = 0.1  # as the import (materials.science.SYMPREC)
EMMET_LICENCES = {"CC-BY-4.0": "BY-C", "CC-BY-NC-4.0": "BY-NC"}  # emmet's EmmetMeta.license
GNOME_EXPLORER_DB = "gnome_explorer"  # the key of our own id in database_IDs

# Every field a document may carry -> the ORM paths it is read from.
_BASE_PATHS: dict[str, tuple[str, ...]] = {
    "material_id": ("material_id",),
    "database_IDs": ("material_id",),
    "formula_pretty": ("formula_reduced",),
    "formula_anonymous": ("formula_anonymous",),
    "chemsys": ("chemsys",),
    "elements": ("elements",),
    "nelements": ("nelements",),
    "nsites": ("nsites",),
    "composition": ("formula",),
    "composition_reduced": ("formula_reduced",),
    "volume": ("volume_a3",),
    "density": ("density_g_cm3",),
    "density_atomic": ("volume_a3", "nsites"),
    # energy-only hull phases have no structure, so no space group: the cheap test of "has a structure"
    "symmetry": ("crystal_system", "spacegroup_symbol", "spacegroup_number", "point_group"),
    "structure": ("structure",),
    "deprecated": (),
    "last_updated": ("updated_at",),
    "builder_meta": ("licence",),
    "warnings": ("source", "energy_method", "energy_note", "spacegroup_number"),
}
_ENERGY_PATHS: dict[str, tuple[str, ...]] = {
    "energy_per_atom": ("energy_corrected_ev", "nsites"),
    "formation_energy_per_atom": ("e_form_ev_per_atom",),
    "energy_above_hull": ("stab__e_above_hull_ev_per_atom",),
    "is_stable": ("stab__is_stable",),
    "equilibrium_reaction_energy_per_atom": ("stab__phase_separation_ev_per_atom", "stab__is_stable"),
    "decomposes_to": ("stab__decomposition", "stab__is_stable"),
}
EXTRA_PATHS: dict[str, tuple[str, ...]] = {
    "license": ("licence",),
    "source": ("source",),
    "energy_method": ("energy_method",),
}
EXTRA_FIELDS = tuple(EXTRA_PATHS)
SUMMARY_PATHS = {**_BASE_PATHS, **_ENERGY_PATHS, "band_gap": ("band_gap_ev",), "theoretical": ("source",),
                 **EXTRA_PATHS}
CORE_PATHS = {**{k: v for k, v in _BASE_PATHS.items() if k != "database_IDs"}, **EXTRA_PATHS}  # MaterialsDoc has none
THERMO_PATHS = {
    **{k: v for k, v in _BASE_PATHS.items() if k not in ("structure", "database_IDs")}, **_ENERGY_PATHS,
    "thermo_id": ("material_id",), "thermo_type": (), "energy_type": ("energy_method",),
    "entry_types": ("energy_method",), "uncorrected_energy_per_atom": ("nsites",),
    "entries": ("material_id", "formula", "energy_corrected_ev", "structure", "licence", "energy_method", "source",
                "updated_at"),
    **EXTRA_PATHS,
}
SUMMARY_FIELDS = tuple(SUMMARY_PATHS)
CORE_FIELDS = tuple(CORE_PATHS)
THERMO_FIELDS = tuple(THERMO_PATHS)
ALWAYS = ("material_id", "builder_meta", "license")  # every document says what it is and under which licence


def paths_for(fields: Iterable[str], table: Mapping[str, tuple[str, ...]]) -> list[str]:
    """The ORM paths the documents of ``fields`` read (``material_id`` always)."""
    return sorted({"material_id", *(p for name in fields for p in table[name])})


def _amounts(formula: str) -> dict[str, float]:
    """``'Li4 Fe4 P4 O16'`` or ``'LiFePO4'`` -> ``{'Li': 4.0, ...}``, in the formula's order (pymatgen's reading)."""
    return Composition(formula).get_el_amt_dict()


def _per_atom(energy: float | None, nsites: int | None) -> float | None:
    return energy / nsites if energy is not None and nsites else None


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def _symmetry(row: Mapping) -> dict | None:
    if row["spacegroup_number"] is None:
        return None
    return {"crystal_system": (row["crystal_system"] or "").capitalize() or None, "symbol": row["spacegroup_symbol"],
            "number": row["spacegroup_number"], "point_group": row["point_group"] or None, "symprec": SYMPREC}


def _warnings(row: Mapping) -> list[str]:
    out = []
    source, method = row["source"], row["energy_method"]
    if source == "discovery" and method:
        out.append(f"energies from {method}: a machine-learned potential, not DFT (MP2020-compatible scale)")
    elif source == "upload" and method:
        out.append(f"energies as supplied by the uploader ({method}), declared MP2020-compatible; not checked")
    elif source == "scale":
        out.append("synthetic load-test row (substituted GNoME crystal with a perturbed energy): not real data")
    if row["energy_note"]:
        out.append(row["energy_note"])
    if row["spacegroup_number"] is None and source == "mp":
        out.append("Materials Project hull phase without a structure in this catalogue: composition and energy only")
    return out


def _decomposes_to(pairs, names: Mapping[str, str]) -> list[dict]:
    out = []
    for material_id, fraction in pairs or []:
        bare = material_id.startswith("ref:")  # an elemental reference with no entry of its own
        out.append({"material_id": None if bare else mp_alias(material_id),
                    "formula": material_id[4:] if bare else names.get(material_id), "amount": fraction})
    return out


def decomposition_ids(rows: Iterable[Mapping]) -> set[str]:
    """The material ids the rows decompose to (their formulas are looked up once per page)."""
    return {mid for row in rows for mid, _ in (row.get("stab__decomposition") or []) if not mid.startswith("ref:")}


def _builder_meta(licence: str) -> dict:
    return {"emmet_version": EMMET_SCHEMA_VERSION, "license": EMMET_LICENCES.get(licence)}


_BUILDER_META = {licence: _builder_meta(licence) for licence in (*EMMET_LICENCES, "unspecified")}


def _unstable_decomposition(row: Mapping, names: Mapping[str, str]) -> list[dict] | None:  # emmet: unstable only
    return None if row["stab__is_stable"] else _decomposes_to(row["stab__decomposition"], names)


# field -> f(row, names): one small function per field, looked up once per page
_GETTERS = {
    "material_id": lambda row, names: mp_alias(row["material_id"]),
    "database_IDs": lambda row, names: {GNOME_EXPLORER_DB: [row["material_id"]]},
    "formula_pretty": lambda row, names: row["formula_reduced"],
    "composition_reduced": lambda row, names: _amounts(row["formula_reduced"]),
    "composition": lambda row, names: _amounts(row["formula"]),
    "formula_anonymous": lambda row, names: row["formula_anonymous"],
    "chemsys": lambda row, names: row["chemsys"],
    "elements": lambda row, names: row["elements"],
    "nelements": lambda row, names: row["nelements"],
    "nsites": lambda row, names: row["nsites"],
    "structure": lambda row, names: row["structure"],
    "volume": lambda row, names: row["volume_a3"],
    "density": lambda row, names: row["density_g_cm3"],
    "band_gap": lambda row, names: row["band_gap_ev"],
    "density_atomic": lambda row, names: _per_atom(row["volume_a3"], row["nsites"]),
    "symmetry": lambda row, names: _symmetry(row),
    "deprecated": lambda row, names: False,
    "last_updated": lambda row, names: _iso(row["updated_at"]),
    "builder_meta": lambda row, names: _BUILDER_META.get(row["licence"]) or _builder_meta(row["licence"]),
    "warnings": lambda row, names: _warnings(row),
    "energy_per_atom": lambda row, names: _per_atom(row["energy_corrected_ev"], row["nsites"]),
    "formation_energy_per_atom": lambda row, names: row["e_form_ev_per_atom"],
    "energy_above_hull": lambda row, names: row["stab__e_above_hull_ev_per_atom"],
    "is_stable": lambda row, names: bool(row["stab__is_stable"]),
    # emmet: stable phases only
    "equilibrium_reaction_energy_per_atom": lambda row, names: (row["stab__phase_separation_ev_per_atom"]
                                                                if row["stab__is_stable"] else None),
    "decomposes_to": _unstable_decomposition,
    # no experimental match is recorded here; GNoME's and ours are predictions
    "theoretical": lambda row, names: None if row["source"] == "mp" else True,
    "license": lambda row, names: row["licence"],
    "source": lambda row, names: row["source"],
    "energy_method": lambda row, names: row["energy_method"],
}


def _value(name: str, row: Mapping, names: Mapping[str, str]):
    return _GETTERS[name](row, names)


def _docs(rows: Iterable[Mapping], fields: Iterable[str], names: Mapping[str, str]) -> list[dict]:
    getters = [(name, _GETTERS[name]) for name in dict.fromkeys([*ALWAYS, *fields])]
    return [{name: get(row, names) for name, get in getters} for row in rows]


def summary_docs(rows: Iterable[Mapping], fields: Iterable[str], names: Mapping[str, str]) -> list[dict]:
    """emmet ``SummaryDoc`` of each material (the requested ``fields`` and ``ALWAYS``)."""
    return _docs(rows, fields, names)


def core_docs(rows: Iterable[Mapping], fields: Iterable[str]) -> list[dict]:
    """emmet ``MaterialsDoc`` (``materials/core``) of each material."""
    return _docs(rows, fields, {})


def thermo_doc(row: Mapping, fields: Iterable[str], names: Mapping[str, str], calculation: Mapping | None) -> dict:
    """emmet ``ThermoDoc`` of one material on this catalogue's energy scale (``THERMO_TYPE``).

    ``calculation`` is the material's preferred energy record (``energy_ev``: its total energy as published,
    uncorrected where the source publishes one).
    """
    doc = {}
    for name in dict.fromkeys([*ALWAYS, *fields]):
        if name == "thermo_id":
            doc[name] = f"{mp_alias(row['material_id'])}_{THERMO_TYPE}"
        elif name == "thermo_type":
            doc[name] = THERMO_TYPE
        elif name == "energy_type":
            doc[name] = row["energy_method"]
        elif name == "entry_types":
            doc[name] = [row["energy_method"]]
        elif name == "uncorrected_energy_per_atom":
            doc[name] = _per_atom((calculation or {}).get("energy_ev"), row["nsites"])
        elif name == "entries":
            doc[name] = {THERMO_TYPE: entry_dict(row, calculation)}
        elif name == "warnings":
            doc[name] = _warnings(row) + (["the entry's structure is a placeholder carrying the composition only "
                                           "(no structure in this catalogue)"]
                                          if row.get("structure") is None and "entries" in fields else [])
        else:
            doc[name] = _value(name, row, names)
    return doc


def entry_dict(row: Mapping, calculation: Mapping | None) -> dict:
    """The material as a pymatgen ``ComputedStructureEntry`` dict whose corrected energy is the hull's.

    ``energy`` is the published total energy where the source gives one apart from the correction (the
    Materials Project snapshot), with the correction this catalogue applied as one energy adjustment;
    otherwise (GNoME publishes corrected energies) ``energy`` is already corrected and there is none.
    pymatgen's ``PhaseDiagram`` of such entries is the catalogue's hull.
    """
    alias = mp_alias(row["material_id"])
    corrected = row["energy_corrected_ev"]
    published = (calculation or {}).get("energy_ev")
    adjustments = []
    energy = corrected
    if published is not None and corrected is not None and not math.isclose(published, corrected, abs_tol=1e-12):
        energy = published
        adjustments.append({
            "@module": "pymatgen.entries.computed_entries", "@class": "ConstantEnergyAdjustment",
            "value": corrected - published, "name": "MP2020 correction (GNoME Explorer)",  # uncertainty: nan (unknown)
            "cls": None,
            "description": (calculation or {}).get("correction_scheme") or "MP2020 correction applied at import",
        })
    structure = row["structure"]
    placeholder = structure is None
    data = {"material_id": alias, "license": EMMET_LICENCES.get(row["licence"]), "energy_method": row["energy_method"],
            GNOME_EXPLORER_DB: row["material_id"], "structure_is_placeholder": placeholder}
    if placeholder:
        structure = placeholder_structure(row["formula"])
        data["note"] = ("no structure in this catalogue (a Materials Project hull phase known by composition and "
                        "energy): the structure is a placeholder that carries the composition only")
    return {
        "@module": "pymatgen.entries.computed_entries", "@class": "ComputedStructureEntry",
        "energy": energy, "composition": _amounts(row["formula"]), "entry_id": f"{alias}-{THERMO_TYPE}",
        "correction": corrected - energy, "energy_adjustments": adjustments, "parameters": {},
        "data": data, "structure": structure,
    }


def placeholder_structure(formula: str, spacing_a: float = 3.0) -> dict:
    """A pymatgen ``Structure`` dict holding the atoms of ``formula`` (a cell formula with whole numbers) on a
    simple cubic grid ``spacing_a`` Å apart: the composition of an energy-only phase, in the one form the
    client's ``ComputedStructureEntry`` accepts. Its geometry means nothing."""
    species = [el for el, n in _amounts(formula).items() for _ in range(int(round(n)))]
    side = max(1, math.ceil(len(species) ** (1 / 3) - 1e-9))
    a = spacing_a * side
    sites = []
    for i, element in enumerate(species):
        x, y, z = i % side, (i // side) % side, i // (side * side)
        sites.append({"species": [{"element": element, "occu": 1}], "abc": [x / side, y / side, z / side],
                      "properties": {}, "label": element})
    return {"@module": "pymatgen.core.structure", "@class": "Structure", "charge": 0,
            "lattice": {"matrix": [[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]], "pbc": [True, True, True]},
            "properties": {}, "sites": sites}
