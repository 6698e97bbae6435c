"""Materials Project-style aliases of our material ids, for the mp-api client (pure: no Django).

The client (``mp_api.client``) validates every id it sends and every ``material_id`` it receives as an emmet
identifier: ``prefix-<integer>`` or ``prefix-<letters>`` (emmet's ``AlphaID``: base 26, ``a`` = 0; values up
to ``LEGACY_CUT`` are written as integers, as legacy mp-ids are). Most of our ids are not of that form:

- GNoME ids are hexadecimal (``000d0e3181``; five Materials Project hull rows carry 32-digit ones). The client
  refuses those with letters, and silently rewrites the all-digit ones (``1234567890`` becomes ``dzxprwk``);
- our own ids are ``upl-`` (uploads) and ``gnx-`` (discoveries) followed by 12 hexadecimal digits, and
  ``scale-`` followed by 7 decimal digits (the synthetic load-test rows).

Each such id gets one alias in the canonical form the client itself produces, so that an alias survives the
client's validation unchanged: ``gnome-`` + the hex value in emmet's notation for a GNoME id (``000d0e3181`` ->
``gnome-slicub``), the same prefix + the value for a prefixed one (``upl-<hex>`` -> ``upl-<letters>``). An id
that is already canonical (every ``mp-<n>`` of the snapshot) is its own alias. The mapping is a pure function,
so it needs no column and no migration; ``candidate_ids`` inverts it (an alias may be padded with leading
``a``, as the client's documents print it: ``gnome-aaslicub`` is ``gnome-slicub``).
"""

from __future__ import annotations

import re

__all__ = ["GNOME_ALIAS_PREFIX", "LEGACY_CUT", "candidate_ids", "is_canonical", "mp_alias"]

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
LEGACY_CUT = 3347529  # emmet's AlphaID._cut_point: values up to it are written as integers
GNOME_ALIAS_PREFIX = "gnome"
GNOME_HEX_WIDTHS = (10, 32)  # GNoME ids; the snapshot's recomputed elemental rows have 32 hex digits

# our prefixed ids: prefix -> (base of the digits, digits)
PREFIXED: dict[str, tuple[int, int]] = {"upl": (16, 12), "gnx": (16, 12), "scale": (10, 7)}

_BARE_HEX = re.compile(r"[0-9a-f]+")
_PREFIXED = re.compile(r"([a-z]+)-([0-9a-f]+)")
_CANONICAL = re.compile(r"([a-z]+)-(0|[1-9][0-9]*|[b-z][a-z]*|a)")
_ALIAS = re.compile(r"([a-z]+)-([0-9]+|[a-z]+)")


# the longest alias body of any id of ours: a 32-digit hex id is below 16**32, 28 letters or 39 decimal digits
MAX_BODY = 39

_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]  # two base-26 digits at a time: half the divisions


def _letters(value: int) -> str:
    """``value`` in base 26 with the letters a-z (a = 0), exactly (no floating point)."""
    parts = []
    while value >= 26:
        value, pair = divmod(value, 676)
        parts.append(_PAIRS[pair])
    if value or not parts:
        parts.append(ALPHABET[value])
    return "".join(reversed(parts)).lstrip("a") or "a"


def _written(prefix: str, value: int) -> str:
    return f"{prefix}-{value if value <= LEGACY_CUT else _letters(value)}"


def is_canonical(identifier: str) -> bool:
    """Whether the client sends and shows ``identifier`` unchanged (``mp-149``: yes; ``mp-0149``: no)."""
    match = _CANONICAL.fullmatch(identifier)
    if match is None:
        return False
    body = match.group(2)
    value = int(body) if body.isdigit() else _value(body)
    return _written(match.group(1), value) == identifier


def _value(letters: str) -> int:
    value = 0
    for char in letters:
        value = value * 26 + ALPHABET.index(char)
    return value


def mp_alias(material_id: str) -> str:
    """The Materials Project-style alias of one of our ids (the id itself where it is already canonical).

    An id of no known form that the client would not accept is returned unchanged: the client then refuses
    it, which says more than a made-up alias would.
    """
    if len(material_id) in GNOME_HEX_WIDTHS and _BARE_HEX.fullmatch(material_id):  # the common case first
        return _written(GNOME_ALIAS_PREFIX, int(material_id, 16))
    if is_canonical(material_id):
        return material_id
    match = _PREFIXED.fullmatch(material_id)
    if match and match.group(1) in PREFIXED:
        base, digits = PREFIXED[match.group(1)]
        if len(match.group(2)) == digits:
            try:
                return _written(match.group(1), int(match.group(2), base))
            except ValueError:  # hex digits in a decimal id
                return material_id
    if match and match.group(1) == "mp" and match.group(2).isdigit():
        return _written("mp", int(match.group(2)))
    return material_id


def candidate_ids(text: str) -> list[str]:
    """Our ids that ``text`` (an id of ours or an alias, padded or not) may stand for; the caller looks them up.

    ``text`` itself always comes first, so an id of ours is found as it is.
    """
    out = [text]
    match = _ALIAS.fullmatch(text)
    if match is None or len(match.group(2)) > MAX_BODY:  # too long to stand for any id of ours: itself only
        return out
    prefix, body = match.groups()
    value = int(body) if body.isdigit() else _value(body)
    if prefix == GNOME_ALIAS_PREFIX:
        out += [f"{value:0{width}x}" for width in GNOME_HEX_WIDTHS if value < 16**width]
    elif prefix in PREFIXED:
        base, digits = PREFIXED[prefix]
        if value < base**digits:
            out.append(f"{prefix}-{value:0{digits}x}" if base == 16 else f"{prefix}-{value:0{digits}d}")
    elif prefix == "mp":
        out.append(f"mp-{value}")
    return list(dict.fromkeys(out))
