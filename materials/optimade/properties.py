"""The OPTIMADE ``structures`` entry type of the catalogue: its properties and how a material becomes an entry.

Each property says how it is stored (an ORM path, the element masks, or a constant every entry shares),
its OPTIMADE type, whether it sorts, and how it is described in ``/info/structures``. The filter
translator (``filters``) and the views read this one table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

PROVIDER_PREFIX = "gnx"
API_VERSION = "1.2.0"
KNOWN_PROVIDER_PREFIXES = {
    "aflow", "alexandria", "cod", "exmpl", "gnome", "jarvis", "matcloud", "mcloud", "mp", "mpdd", "mpds", "nmd", "odbx",
    "omdb", "oqmd", "optimade", "tcod", "twodmatpedia",
}


@dataclass(frozen=True)
class Prop:
    name: str
    type: str  # OPTIMADE type: string, integer, float, boolean, timestamp, list
    description: str
    path: str | None = None  # ORM path, for columns
    kind: str = "column"  # column | elements | species_at_sites | constant | structure
    sortable: bool = False
    unit: str | None = None
    constant: Any = None
    length_path: str | None = None  # ORM path holding the length of a list property
    listed: bool = True  # described in /info/structures

    def info(self) -> dict:
        out = {"description": self.description, "type": self.type, "sortable": self.sortable}
        if self.unit:
            out["unit"] = self.unit
        return out


P = f"_{PROVIDER_PREFIX}_"
PROPERTIES: dict[str, Prop] = {p.name: p for p in [
    Prop("id", "string", "Material id: a GNoME MaterialId (10 hex digits), an mp-id, or gnx-... for our own.",
         path="material_id", sortable=True),
    Prop("type", "string", "Always 'structures'.", kind="constant", constant="structures"),
    Prop("last_modified", "timestamp", "When the record last changed here.", path="updated_at", sortable=True),
    Prop("elements", "list", "Element symbols, alphabetical.", kind="elements", length_path="nelements"),
    Prop("nelements", "integer", "Number of distinct elements.", path="nelements", sortable=True),
    Prop("elements_ratios", "list", "Fraction of the sites of each element, in the order of elements.",
         kind="structure", length_path="nelements"),
    Prop("chemical_formula_descriptive", "string", "Cell formula as stored, e.g. 'Li4 Fe4 P4 O16'.",
         path="formula", sortable=True),
    Prop("chemical_formula_reduced", "string", "Reduced formula, elements alphabetical, e.g. 'FeLiO4P'.",
         path="chemical_formula_reduced", sortable=True),
    Prop("chemical_formula_anonymous", "string", "Anonymous formula, largest amount first, e.g. 'A4BCD'.",
         path="chemical_formula_anonymous", sortable=True),
    Prop("dimension_types", "list", "Periodicity of the three lattice vectors: always [1, 1, 1] (bulk crystals).",
         kind="constant", constant=[1, 1, 1]),
    Prop("nperiodic_dimensions", "integer", "Always 3 (bulk crystals).", kind="constant", constant=3),
    Prop("lattice_vectors", "list", "Lattice vectors a, b, c as rows.", kind="structure", unit="Å",
         constant=3),
    Prop("cartesian_site_positions", "list", "Cartesian positions of the sites.", kind="structure", unit="Å",
         length_path="nsites"),
    Prop("nsites", "integer", "Number of sites in the cell.", path="nsites", sortable=True),
    Prop("species", "list", "Species of the sites (one per element: the structures are ordered).",
         kind="structure", length_path="nelements"),
    Prop("species_at_sites", "list", "Species name of each site.", kind="species_at_sites", length_path="nsites"),
    Prop("structure_features", "list", "Always [] (ordered crystals, no disorder, no assemblies).",
         kind="constant", constant=[]),
    Prop("space_group_it_number", "integer", "International Tables space group number (spglib, symprec 0.1).",
         path="spacegroup_number", sortable=True),
    Prop(f"{P}spacegroup_symbol", "string", "Space group symbol (spglib, symprec 0.1), as the Materials Project.",
         path="spacegroup_symbol", sortable=True),
    Prop(f"{P}crystal_system", "string", "Crystal system (spglib, symprec 0.1).", path="crystal_system", sortable=True),
    Prop(f"{P}formation_energy_per_atom", "float",
         f"Formation energy; its method is {P}energy_method (DFT for imported GNoME and Materials Project data, "
         "a model's prediction where the method says so).",
         path="e_form_ev_per_atom", sortable=True, unit="eV/atom"),
    Prop(f"{P}energy_above_hull", "float",
         "Energy above the convex hull of every stored phase (GNoME + Materials Project + discoveries); "
         "null where an element has no reference.",
         path="stab__e_above_hull_ev_per_atom", sortable=True, unit="eV/atom"),
    Prop(f"{P}is_stable", "boolean", "On the hull of every stored phase (within 5e-5 eV/atom).",
         path="stab__is_stable"),
    Prop(f"{P}energy_method", "string", "Method of the energies (e.g. 'GNoME PBE/PBE+U (DFT)').",
         path="energy_method", sortable=True),
    Prop(f"{P}band_gap", "float", "Band gap, where known (null otherwise).", path="band_gap_ev", sortable=True,
         unit="eV", listed=False),
    Prop(f"{P}dimensionality", "string", "Dimensionality ('3D', '2D' = layered, ...), where computed.",
         path="dimensionality", sortable=True, listed=False),
    Prop(f"{P}license", "string", "Licence of the record: CC-BY-NC-4.0 (GNoME) or CC-BY-4.0 (Materials Project).",
         path="licence", sortable=True),
    Prop(f"{P}source", "string", "Where the record comes from: gnome, mp, discovery or upload.", path="source",
         sortable=True),
]}
# Properties whose value is null or blank for an unknown value: output null, never "".
BLANK_IS_NULL = {f"{P}dimensionality", f"{P}energy_method", f"{P}spacegroup_symbol", f"{P}crystal_system"}

ROW_PATHS = sorted({p.path for p in PROPERTIES.values() if p.path} | {"structure", "elements", "nelements", "nsites"})


def entry(row: dict, fields: list[str] | None = None) -> dict:
    """A material (a ``values()`` row holding ROW_PATHS) as an OPTIMADE structures resource.

    Built from the stored pymatgen dict without constructing a Structure: a page of 1000 entries costs
    milliseconds. ``fields`` limits the attributes (``id`` and ``type`` always come).
    """
    structure = row["structure"]
    wanted = [name for name in PROPERTIES if name not in ("id", "type")] if fields is None else fields
    attributes: dict[str, Any] = {}
    species_at_sites = None
    if any(name in wanted for name in ("species_at_sites", "species", "elements_ratios")):
        species_at_sites = [_species_name(site["species"]) for site in structure["sites"]]
    for name in wanted:
        prop = PROPERTIES.get(name)
        if prop is None:
            attributes[name] = None  # an unknown field asked for in response_fields
            continue
        if prop.kind == "constant":
            attributes[name] = prop.constant
        elif name == "elements":
            attributes[name] = list(row["elements"])
        elif name == "lattice_vectors":
            attributes[name] = [list(map(float, v)) for v in structure["lattice"]["matrix"]]
        elif name == "cartesian_site_positions":
            attributes[name] = [list(map(float, site["xyz"])) for site in structure["sites"]]
        elif name == "species_at_sites":
            attributes[name] = species_at_sites
        elif name == "species":
            attributes[name] = _species(structure["sites"])
        elif name == "elements_ratios":
            counts = Counter(species_at_sites)
            attributes[name] = [counts[el] / len(species_at_sites) for el in row["elements"]]
        elif name == "last_modified":
            attributes[name] = row["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            value = row[prop.path]
            attributes[name] = None if value == "" and name in BLANK_IS_NULL else value
    return {"id": row["material_id"], "type": "structures", "attributes": attributes}


def _species_name(species: list[dict]) -> str:
    if len(species) == 1 and abs(species[0].get("occu", 1) - 1) < 1e-9:
        return species[0]["element"]
    return "".join(f"{s['element']}{s.get('occu', 1):g}" for s in sorted(species, key=lambda s: s["element"]))


def _species(sites: list[dict]) -> list[dict]:
    out: dict[str, dict] = {}
    for site in sites:
        name = _species_name(site["species"])
        if name not in out:
            parts = sorted(site["species"], key=lambda s: s["element"])
            out[name] = {
                "name": name,
                "chemical_symbols": [s["element"] for s in parts],
                "concentration": [float(s.get("occu", 1)) for s in parts],
            }
    return list(out.values())
