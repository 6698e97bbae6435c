"""A user's crystal for the predict endpoint and page: format detection, parsing and the limits. Pure, no Django.

The text is parsed by the catalogue's own parser (``materials.science.parse_structure``: CIF, POSCAR, extended
XYZ, pymatgen JSON, with its checks for overlapping sites, degenerate cells and declared atom counts), then held
to the predict limits: at most ``MAX_SITES`` sites and ``MAX_BYTES`` bytes of text, ordered sites only, elements
the GNN knows (Z <= 94) and every element with an elemental reference (without one there is no formation energy
and no hull placement; never a made-up reference).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pymatgen.core import Element, Structure

from materials.science import STRUCTURE_FORMATS, RowRejected, parse_structure

__all__ = ["FORMATS", "MAX_BYTES", "MAX_SITES", "InputRejected", "ParsedInput", "check_predictable", "detect_format",
           "parse_input"]

MAX_SITES = 200  # sites of the cell: a prediction answers in well under a second up to here (benchmarks/predict.py)
MAX_BYTES = 512 * 1024  # bytes of structure text (a 200-site pymatgen JSON is ~100 kB)
MODEL_MAX_Z = 94  # the GNN's one-hot covers Z = 1..94, as GNoME's
FORMATS = ("cif", "poscar", "extxyz", "json")

_NUMBER = r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?"
_VECTOR = re.compile(rf"^\s*{_NUMBER}\s+{_NUMBER}\s+{_NUMBER}\s*$")
_SCALE = re.compile(rf"^\s*{_NUMBER}(\s+{_NUMBER}\s+{_NUMBER})?\s*$")


class InputRejected(ValueError):
    """A structure the predictor will not take; ``field`` is the request field at fault, ``status`` the HTTP status."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True)
class ParsedInput:
    structure: Structure
    format: str  # one of FORMATS
    detected: bool  # whether the format was detected (not given)


def detect_format(text: str) -> str | None:
    """The format of a structure text when it is unambiguous, else None (the caller then asks for ``format``).

    JSON: an object. CIF: a ``data_`` block with a cell length. Extended XYZ: an atom count, then a comment line
    with ``Lattice=``. POSCAR: a scale line followed by three lattice vectors of three numbers.
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "json"
    lines = text.splitlines()
    lowered = text.lower()
    if re.search(r"^\s*data_", lowered, re.MULTILINE) and "_cell_length_a" in lowered:
        return "cif"
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    head = lines[first:]
    if head[0].strip().isdigit() and len(head) > 1 and "lattice=" in head[1].lower():
        return "extxyz"
    if len(head) >= 5 and _SCALE.match(head[1]) and all(_VECTOR.match(line) for line in head[2:5]):
        return "poscar"
    return None


def parse_input(text, fmt=None) -> ParsedInput:
    """The Structure of a request's ``structure`` text in ``fmt`` (one of FORMATS; None: detected).

    Raises:
        InputRejected: a missing or non-text structure, one over MAX_BYTES (413), an unknown or undetectable format,
            text the parser cannot read (the parser's reason), or a crystal over the predict limits.
    """
    if text is None:
        raise InputRejected("structure", "missing: send the crystal's text in 'structure' (CIF, POSCAR, extended "
                                         "XYZ or pymatgen JSON)")
    if not isinstance(text, str):
        raise InputRejected("structure", f"must be the structure file's text, not {type(text).__name__}")
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_BYTES:
        raise InputRejected("structure", f"{size} bytes of text; at most {MAX_BYTES} bytes are taken", status=413)
    if not text.strip():
        raise InputRejected("structure", "empty: send the crystal's text")
    if "\x00" in text:
        raise InputRejected("structure", "binary content (NUL characters); structure files are text")
    detected = fmt is None or fmt == ""
    if detected:
        fmt = detect_format(text)
        if fmt is None:
            raise InputRejected("format", f"could not tell the format of the text; say 'format': one of "
                                          f"{', '.join(FORMATS)}")
    elif not isinstance(fmt, str) or fmt.lower() not in STRUCTURE_FORMATS:
        raise InputRejected("format", f"unknown format {str(fmt)[:40]!r}; one of {', '.join(FORMATS)}")
    fmt = STRUCTURE_FORMATS[fmt.lower()]
    if fmt == "json":
        _check_json(text)
    try:
        structure = parse_structure(text, fmt)
    except RowRejected as exc:
        raise InputRejected("structure", str(exc)) from None
    check_predictable(structure)
    return ParsedInput(structure, fmt, detected)


def _check_json(text: str) -> None:
    """A pymatgen JSON text must be an object (a list, a number or a too-deep nesting is refused by name)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InputRejected("structure", "unparsable json: nested too deeply") from None
    except ValueError as exc:
        raise InputRejected("structure", f"unparsable json: {exc}") from None
    if not isinstance(value, dict) or "lattice" not in value or "sites" not in value:
        raise InputRejected("structure", "unparsable json: not a pymatgen Structure (an object with 'lattice' "
                                         "and 'sites')")


def check_predictable(structure: Structure, refs: Mapping[str, float] | None = None) -> None:
    """Refuse what the ensemble or the hull cannot take: more than MAX_SITES sites, partial occupancy, elements
    beyond the model's Z <= 94, and (given ``refs``) elements without an elemental reference."""
    if len(structure) > MAX_SITES:
        raise InputRejected("structure", f"{len(structure)} sites; at most {MAX_SITES} sites are predicted")
    if not structure.is_ordered:
        raise InputRejected("structure", "disordered (partial occupancy): the model takes ordered crystals only")
    elements = sorted({el.symbol for el in structure.composition.elements})
    heavy = [el for el in elements if Element(el).Z > MODEL_MAX_Z]
    if heavy:
        raise InputRejected("structure", f"element(s) {', '.join(heavy)} beyond Z={MODEL_MAX_Z}: the model does not "
                                         "know them")
    if refs is not None:
        missing = [el for el in elements if el not in refs]
        if missing:
            raise InputRejected("structure", f"no elemental reference for {', '.join(missing)}: no formation energy "
                                             "or hull placement can be given")
