"""OPTIMADE filter strings -> Django ``Q``, through optimade's own grammar (LarkParser, spec v1.2.0).

Values only ever reach SQL as query parameters. What the catalogue cannot answer raises ``NotImplemented``
(HTTP 501, as the spec allows for optional features); what is wrong with the filter raises ``BadFilter``
(HTTP 400) with a message that names the property. Comparisons on another provider's properties are
"unknown" (they match nothing, ``IS UNKNOWN`` matches everything) and add a warning.
"""

from __future__ import annotations

import datetime as dt
import operator as op
from collections.abc import Callable

from django.db.models import Q
from lark import Token, Transformer, Tree, v_args
from pymatgen.core import Element

from ..query import NOTHING, elements_all, elements_any, elements_only
from .properties import BLANK_IS_NULL, KNOWN_PROVIDER_PREFIXES, PROPERTIES, PROVIDER_PREFIX, Prop

EVERYTHING = Q()
LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
REVERSED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
PY_OPS = {"=": op.eq, "!=": op.ne, "<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge}
PY_TYPES = {"string": (str,), "integer": (int,), "float": (int, float), "boolean": (bool,), "timestamp": (str,)}


class BadFilter(ValueError):
    """The filter is malformed or asks something impossible (HTTP 400)."""


class NotImplementedFilter(NotImplementedError):
    """A valid filter the catalogue cannot answer (HTTP 501)."""


class Unknown:
    """A property of another provider: every comparison on it is false, IS UNKNOWN is true."""

    def __init__(self, name: str) -> None:
        self.name = name


_parser = None


def parse(filter_string: str, warnings: list[str] | None = None) -> Q:
    """The ``Q`` of an OPTIMADE filter; ``warnings`` collects what the client should be told."""
    global _parser
    from optimade.exceptions import BadRequest
    from optimade.filterparser import LarkParser

    if _parser is None:
        _parser = LarkParser(version=(1, 2, 0))
    if not filter_string.strip():
        return EVERYTHING
    try:
        tree = _parser.parse(filter_string)
    except BadRequest as exc:
        raise BadFilter(f"filter does not parse: {exc.detail}") from None
    transformer = ToQ()
    try:
        q = transformer.transform(tree)
    except Exception as exc:  # lark wraps errors raised in the callbacks
        inner = getattr(exc, "orig_exc", exc)
        if isinstance(inner, BadFilter | NotImplementedFilter):
            raise inner from None
        raise
    if warnings is not None:
        warnings.extend(transformer.warnings)
    return q if q is not None else EVERYTHING


def _string(token: str) -> str:
    inner = token[1:-1]
    out, i = [], 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(inner[i])
            i += 1
    return "".join(out)


def _timestamp(prop: Prop, value) -> dt.datetime:
    if not isinstance(value, str):
        raise BadFilter(f"{prop.name} is a timestamp; compare it with a quoted ISO 8601 date")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(f"{value!r} is not an ISO 8601 timestamp ({prop.name})") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _check_type(prop: Prop, value) -> None:
    if prop.type == "timestamp":
        return
    allowed = PY_TYPES.get(prop.type)
    if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
        raise BadFilter(f"{prop.name} is of type {prop.type}; {value!r} cannot be compared with it")


def compare(prop: Prop | Unknown, operator: str, value) -> Q:
    """``prop <operator> value`` as Q (a missing value never matches, ``!=`` included)."""
    if isinstance(prop, Unknown):
        return NOTHING
    if isinstance(value, Prop | Unknown):
        raise NotImplementedFilter("comparing two properties is not supported")
    if prop.type == "list":
        raise BadFilter(f"{prop.name} is a list: use HAS, HAS ALL, HAS ANY, HAS ONLY or LENGTH")
    if prop.kind == "constant":
        _check_type(prop, value)
        return EVERYTHING if PY_OPS[operator](prop.constant, value) else NOTHING
    if prop.kind != "column":
        raise NotImplementedFilter(f"{prop.name} cannot be filtered on")
    value = _timestamp(prop, value) if prop.type == "timestamp" else value
    _check_type(prop, value)
    if operator == "!=":
        return Q(**{f"{prop.path}__isnull": False}) & ~Q(**{prop.path: value})
    return Q(**{f"{prop.path}__{LOOKUPS[operator]}": value})


def _symbols(prop: Prop, values: list) -> list[str]:
    for value in values:
        if not isinstance(value, str):
            raise BadFilter(f"{prop.name} holds strings; {value!r} is not one")
        if any(isinstance(v, Prop | Unknown) for v in values):
            raise NotImplementedFilter("properties inside HAS lists are not supported")
    return list(values)


def has(prop: Prop | Unknown, mode: str, values: list, operators: list[str]) -> Q:
    """``prop HAS [ALL|ANY|ONLY] values``; operators other than ``=`` inside the list give 501."""
    if isinstance(prop, Unknown):
        return NOTHING
    if any(o != "=" for o in operators):
        raise NotImplementedFilter("operators inside HAS (e.g. HAS < 3) are not supported")
    if prop.type != "list":
        raise BadFilter(f"{prop.name} is not a list; HAS applies to lists")
    if prop.kind == "constant":
        present = set(prop.constant)
        test = {"all": present.issuperset(values), "any": bool(present.intersection(values)),
                "only": present.issubset(values)}[mode]
        return EVERYTHING if test else NOTHING
    if prop.kind not in ("elements", "species_at_sites"):
        raise NotImplementedFilter(f"HAS on {prop.name} is not supported")
    # species names are element symbols: the catalogue holds ordered crystals only
    symbols = _symbols(prop, values)
    known = [s for s in symbols if Element.is_valid_symbol(s)]
    if mode == "all":
        return elements_all(known) if len(known) == len(symbols) else NOTHING
    if mode == "any":
        return elements_any(known) if known else NOTHING
    return elements_only(known)


def length(prop: Prop | Unknown, operator: str, n: int) -> Q:
    if isinstance(prop, Unknown):
        return NOTHING
    if prop.type != "list":
        raise BadFilter(f"{prop.name} is not a list; LENGTH applies to lists")
    if prop.kind == "constant" or prop.name == "lattice_vectors":
        size = len(prop.constant) if isinstance(prop.constant, list) else prop.constant
        return EVERYTHING if PY_OPS[operator](size, n) else NOTHING
    if not prop.length_path:
        raise NotImplementedFilter(f"LENGTH of {prop.name} is not supported")
    if operator == "!=":
        return ~Q(**{prop.length_path: n})
    return Q(**{f"{prop.length_path}__{LOOKUPS[operator]}": n})


def known(prop: Prop | Unknown, is_known: bool) -> Q:
    if isinstance(prop, Unknown):
        return NOTHING if is_known else EVERYTHING
    if prop.kind == "constant":
        return EVERYTHING if is_known else NOTHING
    path = prop.path if prop.kind == "column" else "structure" if prop.kind == "structure" else "elements"
    q = Q(**{f"{path}__isnull": not is_known})
    if prop.name in BLANK_IS_NULL:  # a blank string is an unknown value for these
        q = (~Q(**{path: ""}) & q) if is_known else (q | Q(**{path: ""}))
    return q


def fuzzy(prop: Prop | Unknown, how: str, value) -> Q:
    if isinstance(prop, Unknown):
        return NOTHING
    if isinstance(value, Prop | Unknown):
        raise NotImplementedFilter("comparing two properties is not supported")
    if prop.type != "string" or prop.kind != "column":
        raise BadFilter(f"{how.upper()} applies to string properties; {prop.name} is not one")
    if not isinstance(value, str):
        raise BadFilter(f"{how.upper()} needs a quoted string ({prop.name})")
    return Q(**{f"{prop.path}__{how}": value})


@v_args(inline=False)
class ToQ(Transformer):
    """Lark transformer from the OPTIMADE v1.2.0 filter tree to ``Q``."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []

    def filter(self, children):
        return children[0] if children else EVERYTHING

    def expression(self, children):
        q = children[0]
        for child in children[1:]:
            q = q | child
        return q

    def expression_clause(self, children):
        q = children[0]
        for child in children[1:]:
            q = q & child
        return q

    def expression_phrase(self, children):
        if len(children) == 2:  # NOT ...
            return ~children[1]
        return children[0]

    def comparison(self, children):
        return children[0]

    def property(self, children):
        if len(children) > 1:
            raise NotImplementedFilter("nested properties (a.b) are not supported")
        name = str(children[0])
        if name in PROPERTIES:
            return PROPERTIES[name]
        if name.startswith("_"):
            prefix = name.split("_")[1]
            if prefix != PROVIDER_PREFIX:
                if prefix not in KNOWN_PROVIDER_PREFIXES:
                    self.warnings.append(f"{name!r} has an unrecognised provider prefix and was treated as unknown")
                return Unknown(name)
            raise BadFilter(f"unknown property {name!r}; ours are listed at /optimade/v1/info/structures")
        raise BadFilter(f"unknown property {name!r}; the searchable ones are listed at /optimade/v1/info/structures")

    def string(self, children):
        return _string(str(children[0]))

    def number(self, children):
        token = children[0]
        return int(token) if token.type == "SIGNED_INT" else float(token)

    def signed_int(self, children):
        return int(children[0])

    def bool(self, children):
        # the v1.2.0 grammar drops the TRUE/FALSE token, so the two cannot be told apart
        raise NotImplementedFilter("TRUE/FALSE literals are not supported; for stable materials filter "
                                   f"_{PROVIDER_PREFIX}_energy_above_hull <= 0.00005")

    def constant(self, children):
        return children[0]

    def value(self, children):
        return children[0]

    def non_string_value(self, children):
        return children[0]

    def not_implemented_string(self, children):
        raise NotImplementedFilter("comparing a string constant first (\"x\" = prop) is not supported; write prop = \"x\"")

    def value_list(self, children):
        operators, values, pending = [], [], "="
        for child in children:
            if isinstance(child, Token) and child.type == "OPERATOR":
                pending = str(child)
            else:
                operators.append(pending)
                values.append(child)
                pending = "="
        return operators, values

    # right-hand sides return functions of the property
    def value_op_rhs(self, children) -> Callable:
        operator, value = str(children[0]), children[1]
        return lambda prop: compare(prop, operator, value)

    def known_op_rhs(self, children) -> Callable:
        is_known = str(children[1]) == "KNOWN"
        return lambda prop: known(prop, is_known)

    def fuzzy_string_op_rhs(self, children) -> Callable:
        how = {"CONTAINS": "contains", "STARTS": "startswith", "ENDS": "endswith"}[str(children[0])]
        value = children[-1]
        return lambda prop: fuzzy(prop, how, value)

    def set_op_rhs(self, children) -> Callable:
        # HAS [OPERATOR] value | HAS ALL|ANY|ONLY value_list
        word = children[1]
        if isinstance(word, Token) and word.type in ("ALL", "ANY", "ONLY"):
            operators, values = children[2]
            mode = str(word).lower()
            return lambda prop: has(prop, mode, values, operators)
        if isinstance(word, Token) and word.type == "OPERATOR":
            operator, value = str(word), children[2]
        else:
            operator, value = "=", word
        return lambda prop: has(prop, "all", [value], [operator])

    def length_op_rhs(self, children) -> Callable:
        operator = str(children[1]) if len(children) == 3 else "="
        n = children[-1]
        return lambda prop: length(prop, operator, n)

    def set_zip_op_rhs(self, children):
        raise NotImplementedFilter("correlated HAS (a:b HAS x:y) is not supported")

    def property_zip_addon(self, children):
        raise NotImplementedFilter("correlated HAS (a:b HAS x:y) is not supported")

    def property_first_comparison(self, children):
        prop, rhs = children
        return rhs(prop)

    def constant_first_comparison(self, children):
        constant, operator, value = children
        operator = str(operator)
        if isinstance(value, Prop | Unknown):
            return compare(value, REVERSED[operator], constant)
        if isinstance(constant, str) or isinstance(value, str):
            raise NotImplementedFilter("comparing two constants that are strings is not supported")
        return EVERYTHING if PY_OPS[operator](constant, value) else NOTHING

    def __default__(self, data, children, meta):
        if isinstance(data, Tree):
            data = data.data
        raise NotImplementedFilter(f"filter construct {data!r} is not supported")
