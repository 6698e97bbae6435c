"""Chemical systems, their subsystems and the token grammar of query formulas: pure, no Django.

A chemical system ("chemsys") is a set of elements, written as their symbols sorted and joined by "-"
("Fe-Li-O-P"), as the Materials Project writes it and as ``Material.chemsys`` stores it. Reading one is
defined here once: the parts are split on "-" and stripped of spaces, each must be an element symbol (or,
where a query allows it, the wildcard "*", one more element of any kind), an empty part is malformed, and
every error names what is wrong. A comma is not a separator: in list parameters it separates systems.

Its subsystems are the systems of every non-empty subset of its elements, itself included: 2**n - 1 of them.

Formulas are read with pymatgen's ``Composition``; only the query grammar that pymatgen does not know
(anonymous "ABC3" and wildcard "Si*O3" formulas) is tokenised here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import combinations

from pymatgen.core import Element

__all__ = [
    "EXAMPLE",
    "FORMULA_TOKEN",
    "SEPARATOR",
    "WILDCARD",
    "ChemsysError",
    "chemsys_elements",
    "chemsys_parts",
    "formula_tokens",
    "normalise_chemsys",
    "subsystems",
    "subsystems_of",
]

SEPARATOR = "-"
WILDCARD = "*"  # in a query, one more element of any kind (Li-*-O, Si*O3)
EXAMPLE = "Li-Fe-O"
_SHOWN = 60  # characters of a bad value quoted in an error

# (symbol or wildcard, amount) of a query formula: "Si*O3" -> [("Si", ""), ("*", ""), ("O", "3")]
FORMULA_TOKEN = re.compile(r"([A-Z][a-z]?|\*)(\d*\.?\d*)")


class ChemsysError(ValueError):
    """A chemical system or formula that cannot be read; the message names the bad part."""


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _quoted(text: str) -> str:
    return repr(_short(text))


def chemsys_parts(text: str, *, wildcards: bool = False) -> list[str]:
    """The parts of ``text`` ("Li-*-O" -> ["Li", "*", "O"]) in the order written, each checked.

    Args:
        text: A chemical system, e.g. "Li-Fe-O" (any order, spaces around parts allowed).
        wildcards: Whether a part may be ``*`` (one more element of any kind).

    Raises:
        ChemsysError: an empty text, an empty or non-letter part ("Li--O", "Li,O"), or an unknown element
            (the message names each one).
    """
    text = str(text)
    if not text.strip():
        raise ChemsysError(f"empty chemical system; write it like {EXAMPLE}")
    parts = [part.strip() for part in text.split(SEPARATOR)]
    if any(not (part.isascii() and part.isalpha()) and not (wildcards and part == WILDCARD) for part in parts):
        hint = f"{EXAMPLE} or Li-*-O" if wildcards else EXAMPLE
        raise ChemsysError(f"malformed chemical system {_quoted(text)}; write it like {hint}")
    unknown = [part for part in dict.fromkeys(parts) if part != WILDCARD and not Element.is_valid_symbol(part)]
    if unknown:
        raise ChemsysError(f"chemical system {_quoted(text)} has unknown element(s): {_short(', '.join(unknown))}")
    return parts


def chemsys_elements(text: str) -> list[str]:
    """The sorted, distinct element symbols of a chemical system: "O-Li-Fe" -> ["Fe", "Li", "O"].

    Raises:
        ChemsysError: as ``chemsys_parts`` (no wildcards).
    """
    return sorted(set(chemsys_parts(text)))


def normalise_chemsys(text: str) -> str:
    """A chemical system as stored: "O-Li-Fe" -> "Fe-Li-O" (ChemsysError as ``chemsys_elements``)."""
    return SEPARATOR.join(chemsys_elements(text))


def subsystems_of(chemsys: str | Iterable[str], *, sizes: Iterable[int] | None = None) -> list[str]:
    """Every subsystem of one chemical system, itself included, smallest first.

    Args:
        chemsys: A chemical system ("Li-Fe-O", checked as ``chemsys_elements``) or its element symbols.
        sizes: Only subsystems of these numbers of elements (e.g. ``(2,)``: the binaries); default all.

    Returns:
        The stored names ("Fe-Li"), by size, then in the order of the sorted elements' combinations:
        "Fe-Li-O" -> Fe, Li, O, Fe-Li, Fe-O, Li-O, Fe-Li-O (2**n - 1 for n elements).

    Raises:
        ChemsysError: an unknown element or a malformed system.
    """
    if isinstance(chemsys, str):
        elements = chemsys_elements(chemsys)
    else:
        elements = sorted(set(chemsys))
        unknown = [e for e in elements if not Element.is_valid_symbol(e)]
        if unknown:
            raise ChemsysError(f"unknown element(s): {_short(', '.join(unknown))}")
    wanted = range(1, len(elements) + 1) if sizes is None else sorted(set(sizes))
    return [SEPARATOR.join(subset) for k in wanted for subset in combinations(elements, k)]


def subsystems(systems: Iterable[str]) -> set[str]:
    """Every subsystem of any of ``systems`` (each included), as stored: what a hull of them is built from.

    Raises:
        ChemsysError: an unknown element or a malformed system.
    """
    return {sub for system in systems for sub in subsystems_of(system)}


def formula_tokens(formula: str) -> list[tuple[str, str]]:
    """(symbol, amount) tokens of a query formula, which may be anonymous ("ABC3") or hold wildcards ("Si*O3").

    Only the grammar is checked (capitalised symbols or ``*``, each followed by an optional amount); whether a
    symbol is an element is the caller's question. ``"Si*O3"`` -> ``[("Si", ""), ("*", ""), ("O", "3")]``.

    Raises:
        ChemsysError: anything else in the text (parentheses, spaces, a lower-case start).
    """
    tokens = FORMULA_TOKEN.findall(formula)
    if not formula or "".join(symbol + amount for symbol, amount in tokens) != formula:
        raise ChemsysError(f"malformed formula {_quoted(formula)}")
    return tokens
