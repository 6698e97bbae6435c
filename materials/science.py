"""Pure catalogue science: parse structures, derive fields, put energies on one scale.

Nothing here imports Django. Inputs and outputs are pymatgen objects, plain dicts and floats, so
every function is usable from a management command, a Celery task, a notebook or a test.

Energy scale: MP2020-compatible corrected total energies in eV per cell (see DESIGN.md). A formation
energy per atom is measured from the elemental references (chemical potentials) ``refs``:
``E_total = e_form * N + sum(n_i * mu_i)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from pymatgen.core import Composition, Element, Structure
from pymatgen.core.periodic_table import DummySpecies
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from scipy.constants import physical_constants

from .chemsys import SEPARATOR, subsystems_of

SYMPREC = 0.1  # Å, as the Materials Project
MIN_SITE_DISTANCE_A = 0.5  # closer than this, two sites overlap
MIN_E_FORM_EV_PER_ATOM = -8.0  # below this a formation energy is unphysical (GNoME's sanity filter)
MAX_SITES = 1000

STRUCTURE_FORMATS = {"cif": "cif", "poscar": "poscar", "vasp": "poscar", "extxyz": "extxyz", "xyz": "extxyz", "json": "json"}


class RowRejected(ValueError):
    """A row that cannot enter the catalogue; the message says why."""


def parse_composition(formula: str) -> Composition:
    """Parse a formula, rejecting unknown elements by name."""
    if not isinstance(formula, str) or not formula.strip():
        raise RowRejected("empty formula")
    try:
        comp = Composition(formula)
    except Exception as exc:  # pymatgen raises ValueError/KeyError with varied messages
        raise RowRejected(f"unparsable formula {formula!r}: {exc}") from None
    check_elements(comp)
    if comp.num_atoms <= 0:
        raise RowRejected(f"formula {formula!r} has no atoms")
    return comp


def check_elements(comp: Composition) -> None:
    unknown = sorted(_symbol(sp) for sp in comp if isinstance(sp, DummySpecies) or not Element.is_valid_symbol(_symbol(sp)))
    if unknown:
        raise RowRejected(f"unknown element {', '.join(unknown)}")


def _symbol(species) -> str:
    return getattr(species, "symbol", str(species))


def parse_structure(text: str, fmt: str) -> Structure:
    """Parse CIF, POSCAR, extended XYZ or pymatgen JSON text into a Structure, with a clear error."""
    fmt = STRUCTURE_FORMATS.get(fmt.lower())
    if fmt is None:
        raise RowRejected(f"unknown structure format; expected one of {sorted(set(STRUCTURE_FORMATS))}")
    if not text or not text.strip():
        raise RowRejected(f"empty {fmt} text")
    precheck_structure_text(text, fmt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "extxyz":
                import io

                from ase.io import read
                from pymatgen.io.ase import AseAtomsAdaptor

                atoms = read(io.StringIO(text), format="extxyz")
                structure = AseAtomsAdaptor.get_structure(atoms)
            elif fmt == "json":
                import json

                structure = Structure.from_dict(json.loads(text))
            elif fmt == "cif":
                structure = parse_p1_cif(text) or Structure.from_str(text, fmt="cif")
            else:
                structure = Structure.from_str(text, fmt=fmt)
    except RowRejected:
        raise
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise RowRejected(f"unparsable {fmt}: {detail}") from None
    check_structure(structure)
    return structure


def _declared(count: int, what: str) -> None:
    if count > MAX_SITES:
        raise RowRejected(f"{what} declares {count} atoms; at most {MAX_SITES} are accepted")


def precheck_structure_text(text: str, fmt: str) -> None:
    """Refuse, before any parser builds it, a file that declares more atoms than we accept.

    A few lines can declare a million atoms (a POSCAR count line, an XYZ header) or a CIF can list more
    sites than we take before symmetry multiplies them; the parsers would spend minutes and gigabytes on it.
    """
    lines = text.splitlines()
    if fmt == "poscar":
        # the species counts are the first all-integer line after the lattice (line 6, or 7 under a symbols line)
        for line in lines[5:7]:
            fields = line.split()
            if fields and all(f.lstrip("+-").isdigit() for f in fields):
                counts = [int(f) for f in fields]
                if any(c < 0 for c in counts):
                    raise RowRejected(f"poscar: negative atom count in {line.strip()!r}")
                _declared(sum(counts), "poscar")
                return
    elif fmt == "extxyz":
        header = lines[0].split() if lines else []
        if len(header) == 1 and header[0].isdigit():
            _declared(int(header[0]), "extxyz")
        if len(lines) > 1 and "lattice=" not in lines[1].lower():
            raise RowRejected("extxyz: no Lattice= in the comment line; a crystal needs its cell (a molecule is not taken)")
    elif fmt == "cif":
        # rows of the _atom_site loop: every row is at least one site of the cell
        rows, state, site_loop = 0, None, False
        for raw in lines:
            line = raw.strip().lower()
            if not line or line.startswith("#"):
                continue
            if line.startswith("loop_"):
                state, site_loop = "header", False
            elif line.startswith("data_"):
                state, site_loop = None, False
            elif line.startswith("_"):
                if state == "header":
                    site_loop = site_loop or (line.startswith("_atom_site_") and not line.startswith("_atom_site_aniso"))
                else:
                    state, site_loop = None, False
            elif state in ("header", "rows"):
                state = "rows"
                rows += site_loop
        _declared(rows, "cif (atom_site rows)")
        _check_cif_cell(lines)
    elif fmt == "json":
        sites = text.count('"species"')
        _declared(sites, "json (sites)")


_CIF_CELL = ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
             "_cell_angle_gamma")


def _check_cif_cell(lines: list[str]) -> None:
    """Cell lengths must be positive and angles strictly between 0 and 180 degrees (pymatgen would take -5 A)."""
    for raw in lines:
        fields = raw.split()
        if len(fields) != 2 or fields[0].lower() not in _CIF_CELL:
            continue
        key, text = fields[0].lower(), fields[1].split("(")[0]
        try:
            value = float(text)
        except ValueError:
            raise RowRejected(f"cif: {key} {fields[1]!r} is not a number") from None
        if not math.isfinite(value):
            raise RowRejected(f"cif: {key} {fields[1]!r} is not a number")
        if key.startswith("_cell_length") and value <= 0:
            raise RowRejected(f"cif: {key} is {value:g}; cell lengths must be positive")
        if key.startswith("_cell_angle") and not 0 < value < 180:
            raise RowRejected(f"cif: {key} is {value:g}; angles must be between 0 and 180 degrees")


_P1_OPERATIONS = ({"x, y, z"}, {"x,y,z"})
_IDEAL_FRACTIONS = (1 / 3, 2 / 3)
_FRACTION_TOLERANCE = 1e-4  # pymatgen's CifParser default


def parse_p1_cif(text: str) -> Structure | None:
    """Fast path for ordered P1 CIFs (the GNoME files): the Structure pymatgen's CifParser would build.

    pymatgen's parser spends most of its time applying symmetry operations and merging equivalent
    sites, which a P1 file with full occupancies does not need (5x faster, see benchmarks/RESULTS.md).
    Returns None for anything else (more operations, partial occupancy, several blocks, charges), so
    the caller falls back to CifParser. Same conventions as CifParser: coordinates close to 1/3 or 2/3
    snapped, wrapped into [0, 1), sites sorted by electronegativity.
    """
    from pymatgen.core import Lattice
    from pymatgen.io.cif import CifFile, str2float

    cif = CifFile.from_str(text)
    if len(cif.data) != 1:
        return None
    data = next(iter(cif.data.values())).data
    ops = data.get("_symmetry_equiv_pos_as_xyz") or data.get("_space_group_symop_operation_xyz")
    if not ops or len(ops) != 1 or {ops[0].strip().strip("'").lower()} not in _P1_OPERATIONS:
        return None
    symbols = data.get("_atom_site_type_symbol")
    labels = data.get("_atom_site_label")
    columns = [data.get(f"_atom_site_fract_{axis}") for axis in "xyz"]
    occupancies = data.get("_atom_site_occupancy")
    if not symbols or labels is None or any(c is None for c in columns) or len(labels) != len(symbols):
        return None
    if occupancies is not None and any(str2float(o) != 1 for o in occupancies):
        return None
    if any(not Element.is_valid_symbol(s) for s in symbols):
        return None  # charged species, dummy labels: let CifParser decide
    try:
        lattice = Lattice.from_parameters(
            *(str2float(data[f"_cell_length_{x}"]) for x in "abc"),
            *(str2float(data[f"_cell_angle_{x}"]) for x in ("alpha", "beta", "gamma")),
        )
        coords = []
        for xyz in zip(*columns, strict=True):
            point = []
            for raw in xyz:
                value = str2float(raw)
                for ideal in _IDEAL_FRACTIONS:
                    if math.isclose(value / ideal, 1, abs_tol=_FRACTION_TOLERANCE, rel_tol=0):
                        value = ideal
                point.append(value - math.floor(value))
            coords.append(point)
    except (KeyError, ValueError):
        return None
    return Structure(lattice, list(symbols), coords, labels=list(labels)).get_sorted_structure()


def check_structure(structure: Structure) -> None:
    """Reject what no calculation could have produced: unknown elements, partial occupancy, overlaps."""
    if len(structure) == 0:
        raise RowRejected("structure has no sites")
    if len(structure) > MAX_SITES:
        raise RowRejected(f"structure has {len(structure)} sites; at most {MAX_SITES} are accepted")
    if not structure.is_ordered:
        raise RowRejected("structure is disordered (partial occupancies); only ordered crystals are accepted")
    check_elements(structure.composition)
    if not (math.isfinite(structure.volume) and structure.volume > 0):
        raise RowRejected("structure has a degenerate lattice (zero, negative or infinite volume)")
    if not all(math.isfinite(x) for x in structure.frac_coords.flat):
        raise RowRejected("structure has coordinates that are not finite numbers")
    if len(structure) > 1 and not structure.is_valid(tol=MIN_SITE_DISTANCE_A):
        dmat = structure.distance_matrix
        n = len(structure)
        i, j = min(((a, b) for a in range(n) for b in range(a + 1, n)), key=lambda ab: dmat[ab])
        raise RowRejected(
            f"overlapping sites: {structure[i].specie} (site {i}) and {structure[j].specie} (site {j}) "
            f"are {dmat[i, j]:.3f} Å apart (minimum {MIN_SITE_DISTANCE_A} Å)"
        )
    elif len(structure) == 1 and min(structure.lattice.abc) < MIN_SITE_DISTANCE_A:
        raise RowRejected("lattice vector shorter than the minimum site distance")


# Element sets as two bit masks (Z 1-63 in the first, Z 64-118 in the second; the sign bit is never used),
# so that "contains all / any / only these elements" is one integer test on any database (no regex).
MASK_BITS = 63


def element_mask(symbols: Iterable[str]) -> tuple[int, int]:
    """(low, high) bit masks of a set of element symbols; raises ValueError for an unknown symbol."""
    low = high = 0
    for symbol in symbols:
        if not Element.is_valid_symbol(symbol):
            raise ValueError(f"unknown element {symbol!r}")
        z = Element(symbol).Z
        if z <= MASK_BITS:
            low |= 1 << (z - 1)
        else:
            high |= 1 << (z - 1 - MASK_BITS)
    return low, high


def optimade_formulas(comp: Composition) -> tuple[str, str]:
    """OPTIMADE's reduced formula (elements alphabetical: 'FeLiO4P') and anonymous one ('A4BCD')."""
    from optimade.models.utils import anonymize_formula, reduce_formula

    amounts = comp.get_el_amt_dict()
    if any(abs(n - round(n)) > 1e-6 for n in amounts.values()):
        raise RowRejected(f"non-integer amounts in {comp.formula!r}")
    cell = "".join(f"{el}{round(n)}" for el, n in sorted(amounts.items()))
    return reduce_formula(cell), anonymize_formula(cell)


def composition_fields(comp: Composition) -> dict:
    elements = sorted(el.symbol for el in comp.elements)
    mask_low, mask_high = element_mask(elements)
    reduced, anonymous = optimade_formulas(comp)
    return {
        "formula": comp.formula,
        "formula_reduced": comp.reduced_formula,
        "formula_anonymous": comp.anonymized_formula,
        "chemsys": SEPARATOR.join(elements),
        "elements": elements,
        "nelements": len(elements),
        "nsites": int(round(comp.num_atoms)),
        "elements_mask_low": mask_low,
        "elements_mask_high": mask_high,
        "chemical_formula_reduced": reduced,
        "chemical_formula_anonymous": anonymous,
    }


def structure_fields(structure: Structure, symprec: float = SYMPREC) -> dict:
    """Derived fields of a structure: composition fields, cell, density and symmetry (spglib, symprec)."""
    fields = composition_fields(structure.composition)
    fields.update(
        volume_a3=float(structure.volume),
        density_g_cm3=density_g_cm3(structure),
        spacegroup_number=None,
        spacegroup_symbol="",
        crystal_system="",
        point_group="",
    )
    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec)
        fields.update(
            spacegroup_number=analyzer.get_space_group_number(),
            spacegroup_symbol=analyzer.get_space_group_symbol(),
            crystal_system=analyzer.get_crystal_system(),
            point_group=analyzer.get_point_group_symbol(),
        )
    except Exception:  # spglib finds no cell for a few pathological structures; fields stay blank
        pass
    return fields


AMU_G = physical_constants["atomic mass unit-kilogram relationship"][0] * 1e3  # g per amu, as pymatgen


def density_g_cm3(structure: Structure) -> float:
    """Mass density in g/cm³; the same number as ``Structure.density`` without its unit objects (4x faster)."""
    return float(structure.composition.weight) * AMU_G / (structure.volume * 1e-24)


def missing_references(comp: Composition, refs: Mapping[str, float]) -> list[str]:
    return sorted(el.symbol for el in comp.elements if el.symbol not in refs)


def no_reference_note(missing: list[str]) -> str:
    return (
        f"no elemental reference for {', '.join(missing)}: the total energy cannot be put on the hull's "
        "energy scale, so this material is not placed on a hull"
    )


def reference_energy(comp: Composition, refs: Mapping[str, float]) -> float:
    return float(sum(amount * refs[el.symbol] for el, amount in comp.element_composition.items()))


def energy_from_formation(e_form_per_atom: float, comp: Composition, refs: Mapping[str, float]) -> float | None:
    """Corrected total energy of the cell from its formation energy; None when a reference is missing."""
    if missing_references(comp, refs):
        return None
    return float(e_form_per_atom * comp.num_atoms + reference_energy(comp, refs))


def formation_from_energy(energy: float, comp: Composition, refs: Mapping[str, float]) -> float | None:
    """Formation energy per atom from a corrected total energy; None when a reference is missing."""
    if missing_references(comp, refs):
        return None
    return float((energy - reference_energy(comp, refs)) / comp.num_atoms)


def finite_or_none(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "" or value.lower() in {"nan", "none", "null"}:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowRejected(f"not a number: {value!r}") from None
    return number if math.isfinite(number) else None


# Elements that MP2020 treats with GGA+U when the most electronegative element is O or F.
_ANIONS_NEEDING_OXIDATION_STATES = ("Br", "I", "Se", "Si", "Sb", "Te", "H", "N", "F", "Cl")


@dataclass(frozen=True)
class Correction:
    energy_ev: float  # corrected total energy
    correction_ev: float  # corrected minus published
    scheme: str  # what was applied, e.g. "MP2020 (require_bound), GGA+U from composition"
    adjustments: tuple[str, ...]


class Mp2020Corrector:
    """MP2020 corrections (pymatgen, ``strict_anions="require_bound"``) for energy-only rows.

    The run type follows the composition as the Materials Project ran it: GGA+U with MP's U values when
    O or F is the most electronegative element and one of Co, Cr, Fe, Mn, Mo, Ni, V, W is present,
    GGA otherwise. Oxides are treated as plain oxides (no structure to detect peroxides).
    """

    def __init__(self) -> None:
        from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

        self.compat = MaterialsProject2020Compatibility(strict_anions="require_bound", check_potcar=False)

    @cached_property
    def u_settings(self) -> dict[str, dict[str, float]]:
        return {anion: dict(values) for anion, values in self.compat.u_settings.items()}

    def hubbards(self, comp: Composition) -> dict[str, float]:
        most_electronegative = max(comp.elements, key=lambda el: el.X).symbol
        settings = self.u_settings.get(most_electronegative, {})
        return {el.symbol: settings[el.symbol] for el in comp.elements if settings.get(el.symbol)}

    def correct(self, comp: Composition, energy_ev: float) -> Correction:
        from pymatgen.entries.computed_entries import ComputedEntry

        hubbards = self.hubbards(comp)
        run_type = "GGA+U" if hubbards else "GGA"
        entry = ComputedEntry(comp, energy_ev, parameters={"run_type": run_type, "hubbards": hubbards})
        if not any(Element(a) in comp for a in _ANIONS_NEEDING_OXIDATION_STATES):
            # The oxidation-state guess only decides the corrections of these anions; skipping it when
            # none is present gives identical results and saves most of the time.
            entry.data["oxidation_states"] = {"__none__": 0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            processed = self.compat.process_entry(entry, clean=True)
        if processed is None:
            raise RowRejected(f"MP2020 compatibility rejected {comp.reduced_formula} ({run_type})")
        return Correction(
            energy_ev=float(processed.energy),
            correction_ev=float(processed.energy - energy_ev),
            scheme=f"MP2020 (pymatgen, strict_anions=require_bound), {run_type} from composition",
            adjustments=tuple(f"{adj.name}: {adj.value:+.4f} eV" for adj in processed.energy_adjustments),
        )


def hull_completeness(chemsys: str, covered: Iterable[str]) -> dict:
    """How complete the hull of a chemical system is: which of its binary subsystems hold a compound.

    A compound that comes out "stable" in a system whose binaries hold nothing but their elements is stable
    against the elements only, and says little. Args: ``chemsys`` ("Li-O-Se"), ``covered`` the binary systems
    ("A-B", sorted) that hold at least one compound of the hull set (the judged compound itself left out).
    Returns ``{"binaries": n, "covered": k, "missing": [...], "complete": bool}``; ``complete`` is None for an
    element (no binaries). Raises ``materials.chemsys.ChemsysError`` (a ValueError) naming a bad element.
    """
    binaries = subsystems_of(chemsys, sizes=(2,))
    covered = set(covered)
    missing = [b for b in binaries if b not in covered]
    return {"binaries": len(binaries), "covered": len(binaries) - len(missing), "missing": missing,
            "complete": (not missing) if binaries else None}
