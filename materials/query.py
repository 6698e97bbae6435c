"""The one query module of the catalogue: Materials Project-style parameters -> a Django queryset.

The REST API, the mp-api routes, the exports and the explorer all filter through ``MaterialQuery``; nothing
else translates user parameters into database filters (``materials.counting`` counts the matches). Every bad
parameter raises ``QueryError`` naming the parameter and why. Values only ever reach SQL as query parameters.

Stability fields (``energy_above_hull``, ``is_stable``, ``decomposes_to``...) are read from the stored
stability of the chosen hull set (``hull=all|mp``, default ``all``) through a filtered relation.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import F, FilteredRelation, Q, QuerySet
from django.db.models.lookups import Exact
from pymatgen.core import Composition, Element

from .chemsys import SEPARATOR, WILDCARD, ChemsysError, chemsys_parts, formula_tokens
from .dimensionality import STORED_LABELS as DIMENSIONALITIES
from .models import Licence, Material, ScreenRun, Source
from .mp_ids import mp_alias
from .science import element_mask
from .screens import CANDIDATE, OUTCOMES, SCREENS

MAX_PER_PAGE = 1000
DEFAULT_PER_PAGE = 100
MAX_VALUE_LENGTH = 60  # as the Materials Project caps formula and chemsys values
HULL_SETS = ("all", "mp")

# API field -> (ORM path, type) for numeric range filters: <name>_min / <name>_max (inclusive).
NUMERIC_FIELDS: dict[str, tuple[str, type]] = {
    "nelements": ("nelements", int),
    "nsites": ("nsites", int),
    "volume": ("volume_a3", float),
    "density": ("density_g_cm3", float),
    "formation_energy_per_atom": ("e_form_ev_per_atom", float),
    "energy_above_hull": ("stab__e_above_hull_ev_per_atom", float),
    "band_gap": ("band_gap_ev", float),
}

# API field -> ORM path, for output and sorting.
FIELDS: dict[str, str] = {
    "material_id": "material_id",
    "mp_alias": None,  # derived: the Materials Project-style alias the mp-api client takes (materials.mp_ids)
    "formula_pretty": "formula_reduced",
    "formula_anonymous": "formula_anonymous",
    "composition": "formula",
    "chemsys": "chemsys",
    "elements": "elements",
    "nelements": "nelements",
    "nsites": "nsites",
    "volume": "volume_a3",
    "density": "density_g_cm3",
    "spacegroup_number": "spacegroup_number",
    "spacegroup_symbol": "spacegroup_symbol",
    "crystal_system": "crystal_system",
    "point_group": "point_group",
    "band_gap": "band_gap_ev",
    "dimensionality": "dimensionality",
    "formation_energy_per_atom": "e_form_ev_per_atom",
    "energy_per_atom_corrected": None,  # derived: energy_corrected_ev / nsites
    "energy_method": "energy_method",
    "energy_note": "energy_note",
    "energy_above_hull": "stab__e_above_hull_ev_per_atom",
    "is_stable": "stab__is_stable",
    "decomposes_to": "stab__decomposition",
    "phase_separation_energy_per_atom": "stab__phase_separation_ev_per_atom",
    "hull_version": "stab__hull_run_id",
    "source": "source",
    "license": "licence",
    "dataset": "dataset",
}
DEFAULT_FIELDS = ("material_id", "formula_pretty", "chemsys", "nsites", "spacegroup_symbol",
                  "formation_energy_per_atom", "energy_above_hull", "is_stable", "source", "license")
SORTABLE = ("material_id", "formula_pretty", "chemsys", "nelements", "nsites", "volume", "density",
            "spacegroup_number", "band_gap", "formation_energy_per_atom", "energy_above_hull")
CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic")
LICENCE_ALIASES = {"BY": Licence.CC_BY_4, "BY-NC": Licence.CC_BY_NC_4, **{c.value: c.value for c in Licence}}


class QueryError(ValueError):
    """A parameter that cannot be used; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass
class MaterialQuery:
    """A parsed query: filters, hull set, fields, sort and page."""

    q: Q = field(default_factory=Q)
    hull: str = "all"
    fields: tuple[str, ...] = DEFAULT_FIELDS
    sort: tuple[str, ...] = ("material_id",)
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    sort_field: str = "material_id"  # the API name of the sort field; ties go by material_id
    descending: bool = False
    after: tuple | None = None  # keyset: (sort value, material_id) of the last row of the previous page

    @property
    def sort_path(self) -> str:
        return FIELDS[self.sort_field]

    def keyset(self) -> Q:
        """The rows after ``after`` in this query's order (sort field, nulls last, then material_id)."""
        if self.after is None:
            return Q()
        value, material_id = self.after
        path = self.sort_path
        if path == "material_id":
            return Q(material_id__lt=material_id) if self.descending else Q(material_id__gt=material_id)
        if value is None:  # within the trailing nulls
            return Q(**{f"{path}__isnull": True, "material_id__gt": material_id})
        beyond = Q(**{f"{path}__lt" if self.descending else f"{path}__gt": value})
        return beyond | Q(**{path: value, "material_id__gt": material_id}) | Q(**{f"{path}__isnull": True})

    def cursor_after(self, row: Mapping) -> str:
        """The ``_cursor`` of the page after the one ending with ``row`` (a values() row with the sort path)."""
        token = ["-" if self.descending else "+", self.sort_field, row[self.sort_path], row["material_id"]]
        return base64.urlsafe_b64encode(json.dumps(token, allow_nan=False).encode()).decode().rstrip("=")

    def queryset(self) -> QuerySet:
        """Materials matching the filters, with this hull set's stability joined as ``stab``, sorted."""
        qs = Material.objects.annotate(stab=FilteredRelation("stabilities", condition=Q(stabilities__hull_set=self.hull)))
        return qs.filter(self.q).order_by(*self.sort)

    def page_slice(self) -> slice:
        if self.after is not None:
            return slice(0, self.per_page)
        start = (self.page - 1) * self.per_page
        return slice(start, start + self.per_page)

    def page_rows(self, paths: list[str], qs: QuerySet | None = None, window: slice | None = None) -> list[dict]:
        """The rows of a page (``window``, default this query's page) as ``values(*paths)``, in order.

        Read in two steps: the page's material ids first (joining the stability table only when a filter
        or the sort needs it, and reading no wide column for the rows skipped), then the page's values by
        key. PostgreSQL cannot estimate the element bit tests (it guesses one row), so a single query
        joins the stability of every match before sorting; the keys-first plan does not. Large first
        pages stay one query (benchmarks/api.py: a 1000-row first page is faster that way).
        """
        qs = self.queryset() if qs is None else qs
        if self.after is not None:
            qs = qs.filter(self.keyset())
        window = self.page_slice() if window is None else window
        size = window.stop - window.start
        if size > 200 and window.start < 4 * size:
            return list(qs.values(*paths)[window])
        # material ids, not primary keys: the id indexes then answer the first step without the table
        keys = list(qs.values_list("material_id", flat=True)[window])
        if not keys:
            return []
        found = MaterialQuery(q=Q(material_id__in=keys), hull=self.hull).queryset().order_by()
        rows = {row["material_id"]: row for row in found.values("material_id", *paths)}
        return [rows[key] for key in keys]


def _one(params: Mapping, name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    value = str(value).strip()
    if value == "":
        raise QueryError(name, "empty value")
    return value


def _items(params: Mapping, name: str, limit: int | None = MAX_VALUE_LENGTH, most: int = 20) -> list[str] | None:
    """A comma list: values of at most ``limit`` characters, the whole at most ``most`` values' worth."""
    value = _one(params, name)
    if value is None:
        return None
    if limit and len(value) > limit * most:
        raise QueryError(name, f"value is {len(value)} characters long")
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise QueryError(name, "empty list")
    for item in items:
        if limit and len(item) > limit:
            raise QueryError(name, f"{item[:20]!r}... is longer than {limit} characters")
    return items


def flag(params: Mapping, name: str) -> bool | None:
    """A true/false parameter (any case); None when it is not given."""
    value = _one(params, name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise QueryError(name, f"{value[:40]!r} is not true or false")
    return value.lower() == "true"


def _element(param: str, symbol: str) -> str:
    if not Element.is_valid_symbol(symbol):
        raise QueryError(param, f"unknown element {symbol!r}")
    return symbol


NOTHING = Q(pk__in=[])


def _mask_test(symbols, test: str) -> Q:
    low, high = element_mask(symbols)
    lo, hi = F("elements_mask_low"), F("elements_mask_high")
    if test in ("all", "none"):  # a test against an empty mask is always true: left out
        want_low, want_high = (low, high) if test == "all" else (0, 0)
        q = Q(Exact(lo.bitand(low), want_low)) if low else Q()
        return q & Q(Exact(hi.bitand(high), want_high)) if high else q
    # only: no element outside the set (bits are 0..62, so ~mask within 63 bits never touches the sign)
    full = (1 << 63) - 1
    return Q(Exact(lo.bitand(full & ~low), 0)) & Q(Exact(hi.bitand(full & ~high), 0))


def elements_all(symbols) -> Q:
    """Materials containing every one of ``symbols`` (valid element symbols).

    PostgreSQL answers it from the GIN index on the elements (and estimates it from their statistics);
    the masks serve elsewhere. Measured at 592,501 materials: 4.9 ms against 70 ms for Li, O and P.
    """
    if not symbols:
        return Q()
    if connection.vendor == "postgresql":
        return Q(elements__gnx_all=sorted(set(symbols)))
    return _mask_test(symbols, "all")


def elements_any(symbols) -> Q:
    """Materials containing at least one of ``symbols``."""
    if not symbols:
        return NOTHING
    if connection.vendor == "postgresql":
        return Q(elements__gnx_any=sorted(set(symbols)))
    return ~_mask_test(symbols, "none")


def elements_none(symbols) -> Q:
    """Materials containing none of ``symbols`` (on PostgreSQL as NOT &&, which the planner estimates from
    the element statistics; the mask test is estimated at a fixed 0.5 %)."""
    if not symbols:
        return Q()
    if connection.vendor == "postgresql":
        return ~Q(elements__gnx_any=sorted(set(symbols)))
    return _mask_test(symbols, "none")


def elements_only(symbols) -> Q:
    """Materials made of ``symbols`` only (any subset of them)."""
    return _mask_test(symbols, "only")


MAX_INT = 2**31 - 1  # the database's integer columns; larger values cannot match and overflow its casts


def number(param: str, raw: str, kind: type[int] | type[float]) -> int | float:
    """``raw`` as an int or a finite float that the database can compare (QueryError naming ``param``)."""
    try:
        value = kind(raw)
    except ValueError:
        raise QueryError(param, f"{raw[:40]!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise QueryError(param, f"{raw[:40]!r} is not a finite number")
    if kind is int and abs(value) > MAX_INT:
        raise QueryError(param, f"{raw[:40]!r} is out of range (at most {MAX_INT} in size)")
    return value


def _formula_q(param: str, formula: str) -> Q:
    try:
        tokens = formula_tokens(formula)
    except ChemsysError as exc:
        raise QueryError(param, str(exc)) from None
    symbols = [symbol for symbol, _ in tokens]
    if WILDCARD in symbols:
        return _wildcard_formula_q(param, formula, tokens)
    if all(Element.is_valid_symbol(s) for s in symbols):
        return Q(formula_reduced=Composition(formula).reduced_formula)
    if all(len(s) == 1 for s in symbols):  # anonymous, e.g. ABC3: map letters to stand-in elements
        stand_ins = ["H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
                     "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe"]
        letters = sorted(set(symbols))
        mapping = dict(zip(letters, stand_ins, strict=False))
        comp = Composition("".join(mapping[s] + n for s, n in tokens))
        return Q(formula_anonymous=comp.anonymized_formula)
    unknown = sorted({s for s in symbols if not Element.is_valid_symbol(s)})
    raise QueryError(param, f"unknown element(s) {', '.join(unknown)} in {formula!r}")


def _wildcard_formula_q(param: str, formula: str, tokens: list[tuple[str, str]]) -> Q:
    """``Si*O3``: each ``*`` is one element not named elsewhere in the formula, as on the Materials Project.

    Candidates share the anonymous formula and contain the named elements; the named elements' amounts in
    the reduced formula are then checked exactly, so the query returns the ids of true matches only.
    """
    named: dict[str, float] = {}
    wild: list[float] = []
    for symbol, amount in tokens:
        n = float(amount) if amount else 1.0
        if n <= 0:
            raise QueryError(param, f"malformed formula {formula!r}")
        if symbol == WILDCARD:
            wild.append(n)
        elif Element.is_valid_symbol(symbol):
            if symbol in named:
                raise QueryError(param, f"{symbol} appears twice in {formula!r}")
            named[symbol] = n
        else:
            raise QueryError(param, f"unknown element {symbol!r} in {formula!r}")
    if not named:
        raise QueryError(param, f"{formula!r} names no element; use an anonymous formula such as AB2")
    # stand-ins: elements not named, so that the anonymous formula and the reduction come out right
    stand_ins = [el.symbol for el in Element if el.symbol not in named][: len(wild)]
    comp = Composition({**named, **dict(zip(stand_ins, wild, strict=True))})
    reduced = comp.reduced_composition
    factor = comp.num_atoms / reduced.num_atoms
    want = {el: n / factor for el, n in named.items()}
    candidates = Material.objects.filter(
        elements_all(list(named)), formula_anonymous=comp.anonymized_formula, nelements=len(comp)
    ).values_list("pk", "formula_reduced")
    ids = [pk for pk, reduced_formula in candidates
           if all(abs(Composition(reduced_formula)[el] - n) < 1e-6 for el, n in want.items())]
    return Q(pk__in=ids)


MAX_SYSTEMS = 1023  # every subsystem of 10 elements: what the mp-api client's get_entries_in_chemsys sends


def _chemsys_q(param: str, systems: list[str]) -> Q:
    """Any of ``systems``: plain ones (``Li-Fe-O``, in any order) as one ``IN``, each wildcard (``Li-*-O``: one more
    element of any kind per ``*``) as element tests."""
    if len(systems) > MAX_SYSTEMS:
        raise QueryError(param, f"{len(systems)} chemical systems; at most {MAX_SYSTEMS}")
    plain, wild = set(), Q()
    for chemsys in systems:
        try:
            parts = chemsys_parts(chemsys, wildcards=True)
        except ChemsysError as exc:
            raise QueryError(param, str(exc)) from None
        named = sorted({p for p in parts if p != WILDCARD})
        if WILDCARD in parts:
            wild |= Q(nelements=len(parts)) & elements_all(named)
        else:
            plain.add(SEPARATOR.join(named))
    if not plain:
        return wild
    return wild | (Q(chemsys=plain.pop()) if len(plain) == 1 else Q(chemsys__in=sorted(plain)))


def _screen_q(params: Mapping) -> Q:
    """``screen=li_conductor`` (and ``screen_outcome``): materials by outcome in the screen's latest run."""
    name, outcomes = _one(params, "screen"), _items(params, "screen_outcome")
    if name is None:
        if outcomes is not None:
            raise QueryError("screen_outcome", "needs screen=<name>")
        return Q()
    if name not in SCREENS:
        raise QueryError("screen", f"unknown screen {name!r}; one of {', '.join(SCREENS)}")
    outcomes = outcomes or [CANDIDATE]
    bad = [o for o in outcomes if o not in OUTCOMES]
    if bad:
        raise QueryError("screen_outcome", f"unknown outcome {bad[0]!r}; one of {', '.join(OUTCOMES)}")
    run = ScreenRun.objects.filter(screen=name, status=ScreenRun.Status.SUCCEEDED).values_list("pk", flat=True).first()
    if run is None:
        raise QueryError("screen", f"{name} has not been run yet")
    return Q(screen_results__run_id=run, screen_results__outcome__in=outcomes)


def parse(params: Mapping) -> MaterialQuery:
    """Parse Materials Project-style parameters; raises QueryError naming the first bad one."""
    query = MaterialQuery()
    known = {"formula", "chemsys", "elements", "exclude_elements", "is_stable", "hull", "spacegroup_number",
             "spacegroup_symbol", "crystal_system", "source", "license", "material_ids", "_fields", "_all_fields",
             "_sort_fields", "_page", "_per_page", "_cursor", "has_structure", "dimensionality", "screen", "screen_outcome"}
    known |= {f"{name}_{bound}" for name in NUMERIC_FIELDS for bound in ("min", "max")}
    for name in params:
        if name not in known:
            raise QueryError(name, "unknown parameter")
    q = Q()

    hull = _one(params, "hull") or "all"
    if hull not in HULL_SETS:
        raise QueryError("hull", f"unknown hull set {hull!r}; choose 'all' or 'mp'")
    query.hull = hull

    if (formulas := _items(params, "formula")) is not None:
        if len(formulas) > 1 and any(WILDCARD in f for f in formulas):
            raise QueryError("formula", "a wildcard formula cannot be combined with others in a list")
        any_of = Q()
        for formula in formulas:
            any_of |= _formula_q("formula", formula)
        q &= any_of
    if (systems := _items(params, "chemsys", most=MAX_SYSTEMS)) is not None:
        q &= _chemsys_q("chemsys", systems)
    if (elements := _items(params, "elements")) is not None:
        q &= elements_all([_element("elements", symbol) for symbol in elements])
    if (excluded := _items(params, "exclude_elements")) is not None:
        q &= elements_none([_element("exclude_elements", symbol) for symbol in excluded])

    for name, (path, kind) in NUMERIC_FIELDS.items():
        low, high = _one(params, f"{name}_min"), _one(params, f"{name}_max")
        low = None if low is None else number(f"{name}_min", low, kind)
        high = None if high is None else number(f"{name}_max", high, kind)
        if low is not None and high is not None and low > high:
            raise QueryError(f"{name}_min", f"{low} is above {name}_max={high}")
        if low is not None:
            q &= Q(**{f"{path}__gte": low})
        if high is not None:
            q &= Q(**{f"{path}__lte": high})

    if (stable := flag(params, "is_stable")) is not None:
        q &= Q(stab__is_stable=stable)
    if (has := flag(params, "has_structure")) is not None:
        q &= Q(structure__isnull=not has)
    if (labels := _items(params, "dimensionality")) is not None:
        bad = [d for d in labels if d not in DIMENSIONALITIES]
        if bad:
            raise QueryError("dimensionality", f"unknown dimensionality {bad[0]!r}; one of {', '.join(DIMENSIONALITIES)}")
        q &= Q(dimensionality__in=labels)
    q &= _screen_q(params)
    if (numbers := _items(params, "spacegroup_number")) is not None:
        values = [number("spacegroup_number", n, int) for n in numbers]
        if any(not 1 <= v <= 230 for v in values):
            raise QueryError("spacegroup_number", "space group numbers run from 1 to 230")
        q &= Q(spacegroup_number__in=values)
    if (symbols := _items(params, "spacegroup_symbol")) is not None:
        q &= Q(spacegroup_symbol__in=symbols)
    if (systems := _items(params, "crystal_system")) is not None:
        lowered = [s.lower() for s in systems]
        bad = [s for s in lowered if s not in CRYSTAL_SYSTEMS]
        if bad:
            raise QueryError("crystal_system", f"unknown crystal system {bad[0]!r}; one of {', '.join(CRYSTAL_SYSTEMS)}")
        q &= Q(crystal_system__in=lowered)
    if (sources := _items(params, "source")) is not None:
        bad = [s for s in sources if s not in Source.values]
        if bad:
            raise QueryError("source", f"unknown source {bad[0]!r}; one of {', '.join(Source.values)}")
        q &= Q(source__in=sources)
    if (licences := _items(params, "license")) is not None:
        if "All" not in licences:
            bad = [s for s in licences if s not in LICENCE_ALIASES]
            if bad:
                raise QueryError("license", f"unknown licence {bad[0]!r}; one of BY, BY-NC, All")
            q &= Q(licence__in=[LICENCE_ALIASES[s] for s in licences])
    if (ids := _items(params, "material_ids", limit=None)) is not None:
        if len(ids) > MAX_PER_PAGE:
            raise QueryError("material_ids", f"{len(ids)} ids; at most {MAX_PER_PAGE}")
        q &= Q(material_id__in=ids)
    query.q = q

    if flag(params, "_all_fields"):
        query.fields = tuple(FIELDS)
    elif (names := _items(params, "_fields", limit=None)) is not None:
        bad = [n for n in names if n not in FIELDS]
        if bad:
            raise QueryError("_fields", f"unknown field {bad[0]!r}")
        query.fields = tuple(dict.fromkeys(names))
    if (sort := _items(params, "_sort_fields")) is not None:
        if len(sort) > 1:
            raise QueryError("_sort_fields", "sort by one field at a time")
        name = sort[0].lstrip("-")
        if name not in SORTABLE:
            raise QueryError("_sort_fields", f"cannot sort by {name!r}; one of {', '.join(SORTABLE)}")
        path = FIELDS[name]
        query.sort_field, query.descending = name, sort[0].startswith("-")
        expr = F(path).desc(nulls_last=True) if query.descending else F(path).asc(nulls_last=True)
        query.sort = (expr,) if name == "material_id" else (expr, "material_id")
    if (cursor := _one(params, "_cursor")) is not None:
        if "_page" in params:
            raise QueryError("_cursor", "give _cursor or _page, not both")
        query.after = _decode_cursor(cursor, query)
    page, per_page = _one(params, "_page"), _one(params, "_per_page")
    query.page = 1 if page is None else number("_page", page, int)
    query.per_page = DEFAULT_PER_PAGE if per_page is None else number("_per_page", per_page, int)
    if query.page < 1:
        raise QueryError("_page", "pages start at 1")
    if not 1 <= query.per_page <= MAX_PER_PAGE:
        raise QueryError("_per_page", f"between 1 and {MAX_PER_PAGE} (requested {query.per_page})")
    return query


def _decode_cursor(cursor: str, query: MaterialQuery) -> tuple:
    try:
        token = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        direction, name, value, material_id = token
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise QueryError("_cursor", "malformed cursor; use the next_cursor of a previous page") from None
    if (direction == "-") != query.descending or name != query.sort_field:
        raise QueryError("_cursor", f"the cursor was made for another sort ({direction}{name}); keep _sort_fields")
    if not isinstance(material_id, str) or not (value is None or isinstance(value, int | float | str)):
        raise QueryError("_cursor", "malformed cursor; use the next_cursor of a previous page")
    return value, material_id


def document(values: Mapping, fields: tuple[str, ...]) -> dict:
    """One material as the API shows it, from a ``values()`` row holding every ORM path of FIELDS."""
    out = {}
    for name in fields:
        if name == "mp_alias":
            out[name] = mp_alias(values["material_id"])
        elif name == "energy_per_atom_corrected":
            energy, nsites = values["energy_corrected_ev"], values["nsites"]
            out[name] = energy / nsites if energy is not None and nsites else None
        else:
            out[name] = values[FIELDS[name]]
    return out


def value_paths(fields: tuple[str, ...]) -> list[str]:
    paths = {FIELDS[name] for name in fields if FIELDS[name]}
    if "mp_alias" in fields:
        paths.add("material_id")
    if "energy_per_atom_corrected" in fields:
        paths |= {"energy_corrected_ev", "nsites"}
    return sorted(paths)


def openapi_parameters() -> list[tuple[str, type, str]]:
    """(name, type, description) of every search parameter, for the OpenAPI schema."""
    params = [
        ("formula", str, "Reduced formula (Fe2O3), anonymous formula (ABC3) or one wildcard formula (Si*O3: "
                         "each * is one other element); comma list = any of"),
        ("chemsys", str, "Chemical system (Li-Fe-O) or wildcard (Li-*-O); comma list = any of"),
        ("elements", str, "Contains all of these elements (Li,O)"),
        ("exclude_elements", str, "Contains none of these elements"),
        ("has_structure", bool, "Has a crystal structure (false: energy-only hull phases)"),
        ("dimensionality", str, "Cheon dimensionality (0.45 Å): 2D = layered; comma list"),
        ("screen", str, f"Materials by outcome in the latest run of a screen: {', '.join(SCREENS)}"),
        ("screen_outcome", str, "candidate (default), unknown (passed with unknowns), failed; comma list"),
        ("is_stable", bool, "Stable on the chosen hull (at most 5e-5 eV/atom above it)"),
        ("hull", str, "Hull set of the stability fields: all (default) or mp"),
        ("spacegroup_number", str, "Space group numbers, comma list"),
        ("spacegroup_symbol", str, "Space group symbols, comma list"),
        ("crystal_system", str, f"One of {', '.join(CRYSTAL_SYSTEMS)}; comma list"),
        ("source", str, f"One of {', '.join(Source.values)}; comma list"),
        ("license", str, "BY, BY-NC or All"),
        ("material_ids", str, "Comma list of ids"),
        ("_fields", str, f"Comma list of fields; default {','.join(DEFAULT_FIELDS)}"),
        ("_all_fields", bool, "Every field"),
        ("_sort_fields", str, f"One of {', '.join(SORTABLE)}; prefix - for descending"),
        ("_page", int, "Page, from 1 (deep pages: use _cursor)"),
        ("_cursor", str, "Keyset page: the next_cursor of the previous page (same filters and sort); as fast on "
                         "page 5,000 as on page 1"),
        ("_per_page", int, f"Results per page, at most {MAX_PER_PAGE} (default {DEFAULT_PER_PAGE})"),
    ]
    for name, (_, kind) in NUMERIC_FIELDS.items():
        params += [(f"{name}_min", kind, f"Minimum {name} (inclusive)"),
                   (f"{name}_max", kind, f"Maximum {name} (inclusive)")]
    return params
