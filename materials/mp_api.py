"""The Materials Project API as the mp-api client calls it, under ``/api/mp/`` (``docs/mp_api.md``).

``MPRester(endpoint="http://<host>/api/mp/")`` reads this catalogue: ``heartbeat``, ``materials/summary/``,
``materials/core/`` and ``materials/thermo/``, with the client's parameter names, paging (``_limit`` and
``_skip``, or ``_page`` and ``_per_page``), ``_fields``/``_all_fields`` and the ``{data, meta: {total_doc}}``
envelope. Filters go through the catalogue's one query module (``materials.query``), as the REST API's do.

Ids: documents carry each material's Materials Project-style alias as ``material_id`` (``materials.mp_ids``;
our own id is in ``database_IDs.gnome_explorer``); ``material_ids`` takes aliases and our ids alike.

Errors: a parameter that cannot be used is a 422 whose ``detail`` names it, as the Materials Project's
server answers (the client prints ``detail`` for a 422, but replaces a 400's body with a generic message).

The thermo entries of a chemical system (what ``get_entries_in_chemsys`` reads) are kept per data version
(``materials.versioned_cache``), as the REST API keeps the hull of a system: built once, never served stale.
"""

from __future__ import annotations

import json

from django.db.models import F, Q
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from . import api_schemas, counting, versioned_cache
from . import mp_documents as docs
from . import query as catalogue_query
from .models import Calculation, ImportRun, Source
from .mp_ids import candidate_ids
from .services import formulas

__all__ = ["Heartbeat", "MaterialsCoreSearch", "SummarySearch", "ThermoSearch"]

MAX_LIMIT = catalogue_query.MAX_PER_PAGE
DEFAULT_LIMIT = catalogue_query.DEFAULT_PER_PAGE
DEFAULT_FIELDS = ("material_id", "last_updated")  # as the Materials Project answers without _fields
GNOME_BATCH = "gnome_r2scan_statics"  # the client's name for the GNoME data (include_gnome=False excludes it)
KNOWN_THERMO_TYPES = {"GGA_GGA+U", "GGA_GGA+U_R2SCAN", "R2SCAN", "r2SCAN", "UNKNOWN"}
LICENCES = {
    "CC-BY-NC-4.0": "GNoME data: CC BY-NC 4.0 (non-commercial use only); cite Merchant et al., Nature 624, 80-85 (2023)",
    "CC-BY-4.0": "Materials Project data: CC BY 4.0",
}
ENERGIES = ("corrected total energies on the MP2020 GGA/GGA+U scale (thermo type GGA_GGA+U): DFT for GNoME and "
            "Materials Project rows, a machine-learned potential's for discoveries (see warnings and energy_method)")

# Parameters passed to materials.query as they are (same names there).
SHARED = {"formula", "chemsys", "elements", "exclude_elements", "is_stable", "crystal_system", "spacegroup_number",
          "spacegroup_symbol", "_sort_fields", "hull", "license", "source"}
SHARED |= {f"{name}_{bound}" for name in ("nsites", "nelements", "volume", "density", "band_gap", "energy_above_hull",
                                           "formation_energy_per_atom") for bound in ("min", "max")}
PAGING = {"_limit", "_skip", "_page", "_per_page", "_fields", "_all_fields"}
# Materials Project parameters this catalogue has no data for: a 422 that says so, never a silent no-op.
NOT_HERE = {
    "energy_per_atom": "filter on formation_energy_per_atom or energy_above_hull instead",
    "uncorrected_energy_per_atom": "uncorrected energies are not stored for every material",
    "equilibrium_reaction_energy_per_atom": "filter on energy_above_hull and is_stable instead",
    "task_ids": "this catalogue holds no calculation tasks", "possible_species": "no oxidation states are stored",
    "has_props": "no property collections besides thermodynamics", "theoretical": "not recorded here",
    "is_gap_direct": "no band structures", "is_metal": "no band structures", "efermi": "no band structures",
    "ordering": "no magnetic data", "has_reconstructed": "no surface data",
}
NOT_HERE_RANGES = ("k_voigt", "k_reuss", "k_vrh", "g_voigt", "g_reuss", "g_vrh", "universal_anisotropy",
                   "homogeneous_poisson", "e_total", "e_ionic", "e_electronic", "n", "e_ij_max", "total_magnetization",
                   "total_magnetization_normalized_vol", "total_magnetization_normalized_formula_units",
                   "num_magnetic_sites", "num_unique_magnetic_sites", "weighted_surface_energy",
                   "weighted_work_function", "surface_anisotropy", "shape_factor")


class Unprocessable(APIException):
    """422: a parameter that cannot be used, named in ``detail`` (and as a key, as the REST API names it)."""

    status_code = 422

    def __init__(self, param: str, message: str) -> None:
        super().__init__({"detail": f"{param}: {message}", param: message})


def _int(params, name: str, low: int, high: int = catalogue_query.MAX_INT) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    value = catalogue_query.number(name, raw, int)
    if not low <= value <= high:
        raise Unprocessable(name, f"{value} is out of range ({low} to {high})")
    return value


def _window(params) -> slice:
    """``_skip``/``_limit`` (the client's paging) or ``_page``/``_per_page``; at most MAX_LIMIT rows."""
    limit = _int(params, "_limit", 1, MAX_LIMIT)
    per_page = _int(params, "_per_page", 1, MAX_LIMIT)
    page = _int(params, "_page", 1)
    skip = _int(params, "_skip", 0)
    size = per_page or limit or DEFAULT_LIMIT
    if page is not None:
        if skip:
            raise Unprocessable("_skip", "give _skip or _page, not both")
        skip = (page - 1) * size
    return slice(skip or 0, (skip or 0) + size)


def _fields(params, allowed: tuple[str, ...], model_only: set[str]) -> tuple[str, ...]:
    """The requested fields: ``_all_fields`` (everything served), ``_fields`` or the default. A field of the
    emmet document that this catalogue does not serve (``model_only``) is left out: the client then lists it
    as unavailable. Any other unknown name is refused."""
    if catalogue_query.flag(params, "_all_fields"):
        return allowed
    raw = params.get("_fields")
    if raw is None:
        return DEFAULT_FIELDS
    names = [n.strip().split(".")[0] for n in raw.split(",") if n.strip()]  # symmetry.number: all of symmetry
    unknown = [n for n in names if n not in allowed and n not in model_only]
    if unknown:
        raise Unprocessable("_fields", f"unknown field {unknown[0]!r}; fields served: {', '.join(allowed)}")
    return tuple(n for n in dict.fromkeys(names) if n in allowed)


def material_ids_q(raw: str, param: str = "material_ids") -> Q | None:
    """The materials of a comma list of aliases or our ids (None: the list is empty). Each alias stands for one
    to three ids of ours (``mp_ids.candidate_ids``); those that do not exist simply match nothing."""
    wanted = [v.strip() for v in raw.split(",") if v.strip()]
    if len(wanted) > MAX_LIMIT:
        raise Unprocessable(param, f"{len(wanted)} ids; at most {MAX_LIMIT}")
    candidates = sorted({c for v in wanted for c in candidate_ids(v)})
    return Q(material_id__in=candidates) if candidates else None


def translate(params, known: set[str]) -> tuple[dict, bool]:
    """Materials Project parameters -> (materials.query parameters, whether the answer is empty whatever
    the rest says). ``known``: the route's own parameters besides SHARED and PAGING."""
    out: dict[str, str] = {}
    empty = False
    for name, value in params.items():
        base = name.removesuffix("_min").removesuffix("_max")
        if name in SHARED:
            out[name] = value
        elif name in PAGING or name in known:
            continue
        elif name in NOT_HERE or base in NOT_HERE:
            raise Unprocessable(name, f"not available in this catalogue ({NOT_HERE[name if name in NOT_HERE else base]})")
        elif base in NOT_HERE_RANGES:
            raise Unprocessable(name, "not available in this catalogue (it holds structures, energies and stability)")
        else:
            raise Unprocessable(name, "unknown parameter")
    if catalogue_query.flag(params, "deprecated"):
        empty = True  # nothing here is deprecated
    if (batch := params.get("batch_id_not_eq")) is not None:
        if batch != GNOME_BATCH:
            raise Unprocessable("batch_id_not_eq", f"only {GNOME_BATCH!r} (the GNoME data) is known here")
        out["source"] = ",".join(s for s in Source.values if s != Source.GNOME)
    if (batch := params.get("batch_id")) is not None:
        if batch != GNOME_BATCH:
            raise Unprocessable("batch_id", f"only {GNOME_BATCH!r} (the GNoME data) is known here")
        out["source"] = Source.GNOME
    return out, empty


def _rendered(body: dict) -> tuple[bytes, dict]:
    """An envelope kept in the cache: its documents as JSON (DRF's renderer, as a Response writes them) and its
    meta, whose time stamp each answer sets."""
    return JSONRenderer().render(body["data"]), body["meta"]


def _envelope(data: list[dict], total: counting.Total, query: catalogue_query.MaterialQuery, window: slice) -> dict:
    return {"data": data, "meta": {
        "api_version": "1", "time_stamp": timezone.now().isoformat(), "total_doc": total.count,
        "total_doc_is_estimate": total.estimate, "max_limit": MAX_LIMIT, "skip": window.start,
        "limit": window.stop - window.start, "hull": query.hull, "energies": ENERGIES, "licenses": LICENCES,
    }}


class _Search(APIView):
    """A search route: translate, filter through materials.query, page, build documents."""

    fields: tuple[str, ...] = ()
    paths: dict[str, tuple[str, ...]] = {}
    model_only: set[str] = set()
    own_params: set[str] = set()
    cache_kind: str | None = None  # set: answers that ``cached`` accepts are kept per data version

    def extra_q(self, params) -> tuple[Q, bool]:
        return Q(), False

    def build(self, rows: list[dict], fields: tuple[str, ...]) -> list[dict]:
        raise NotImplementedError

    def cached(self, params: dict[str, str]) -> bool:
        return False

    def get(self, request):
        params = {k: v[-1] for k, v in request.query_params.lists()}
        try:
            if self.cache_kind is None or not self.cached(params):
                return Response(self.answer(params))
            key = json.dumps(sorted(params.items()))
            data, meta = versioned_cache.cached(self.cache_kind, key, lambda: _rendered(self.answer(params)))
        except catalogue_query.QueryError as exc:
            raise Unprocessable(exc.param, exc.message) from None
        meta["time_stamp"] = timezone.now().isoformat()
        if request.accepted_renderer.format != "json":  # the browsable API
            return Response({"data": json.loads(data), "meta": meta})
        # the documents as JSON already (rendering them again would cost more than the rest of the answer)
        return HttpResponse(b'{"data":' + data + b',"meta":' + JSONRenderer().render(meta) + b"}",
                            content_type="application/json")

    def answer(self, params: dict[str, str]) -> dict:
        """The page of documents ``params`` ask for, in its envelope."""
        window = _window(params)
        fields = _fields(params, self.fields, self.model_only)
        translated, empty = translate(params, self.own_params | {"material_ids", "deprecated", "batch_id",
                                                                 "batch_id_not_eq"})
        query = catalogue_query.parse(translated)
        extra, nothing = self.extra_q(params)
        by_id = None
        if (raw := params.get("material_ids")) is not None:
            by_id = material_ids_q(raw)
            nothing |= by_id is None
        if empty or nothing:
            return _envelope([], counting.Total(0, False), query, window)
        query.q &= extra & (by_id or Q())
        qs = query.queryset()
        paths = docs.paths_for([*docs.ALWAYS, *fields], self.paths)
        # a few ids: one query; otherwise the query module's keys-first pages
        rows = list(qs.values(*paths)[window]) if by_id is not None else query.page_rows(paths, qs, window)
        total = counting.counted(qs, window.start == 0, len(rows), window.stop - window.start)
        return _envelope(self.build(rows, fields), total, query, window)


def _parameters(names: list[tuple[str, type, str]]) -> list[OpenApiParameter]:
    return [OpenApiParameter(n, t, description=d) for n, t, d in names]


COMMON_PARAMETERS = [
    ("material_ids", str, "Comma list of Materials Project-style aliases (gnome-slicub) or our ids (000d0e3181)"),
    ("formula", str, "Reduced, anonymous (ABC3) or wildcard (Si*O3) formula; comma list = any of"),
    ("chemsys", str, "Chemical system (Li-Fe-O) or wildcard (Li-*-O); comma list = any of"),
    ("is_stable", bool, "On the chosen hull (at most 5e-5 eV/atom above it)"),
    ("energy_above_hull_min", float, "Minimum energy above the hull (eV/atom)"),
    ("energy_above_hull_max", float, "Maximum energy above the hull (eV/atom)"),
    ("formation_energy_per_atom_min", float, "Minimum formation energy (eV/atom)"),
    ("formation_energy_per_atom_max", float, "Maximum formation energy (eV/atom)"),
    ("nelements_min", int, "Minimum number of elements"), ("nelements_max", int, "Maximum number of elements"),
    ("hull", str, "Hull set of the stability fields: all (default: GNoME, Materials Project and discovered phases) or mp"),
    ("_fields", str, "Comma list of fields; default material_id,last_updated"),
    ("_all_fields", bool, "Every field served"),
    ("_limit", int, f"Documents per request, at most {MAX_LIMIT} (default {DEFAULT_LIMIT})"),
    ("_skip", int, "Documents to skip (the client pages with _skip and _limit)"),
    ("_page", int, "Page from 1 (with _per_page), instead of _skip"),
    ("_per_page", int, f"Documents per page, at most {MAX_LIMIT}"),
    ("_sort_fields", str, f"One of {', '.join(catalogue_query.SORTABLE)}; prefix - for descending"),
]
SEARCH_PARAMETERS = COMMON_PARAMETERS + [
    ("elements", str, "Contains all of these elements (Li,O)"),
    ("exclude_elements", str, "Contains none of these elements"),
    ("band_gap_min", float, "Minimum band gap (eV)"), ("band_gap_max", float, "Maximum band gap (eV)"),
    ("nsites_min", int, "Minimum number of sites in the cell"), ("nsites_max", int, "Maximum number of sites"),
    ("volume_min", float, "Minimum cell volume (Å³)"), ("volume_max", float, "Maximum cell volume (Å³)"),
    ("density_min", float, "Minimum density (g/cm³)"), ("density_max", float, "Maximum density (g/cm³)"),
    ("crystal_system", str, "Crystal system (Cubic, cubic, ...)"),
    ("spacegroup_number", int, "Space group number"), ("spacegroup_symbol", str, "Space group symbol"),
    ("deprecated", bool, "true matches nothing: no document here is deprecated"),
    ("batch_id_not_eq", str, f"{GNOME_BATCH}: leave out the GNoME data (the client's include_gnome=False)"),
    ("license", str, "BY, BY-NC or All"), ("source", str, f"One of {', '.join(Source.values)}; comma list"),
]


class Heartbeat(APIView):
    """``heartbeat``: what MPRester reads first (database version, emmet version, access-controlled batches)."""

    @extend_schema(operation_id="mp_heartbeat", tags=["mp-api"], responses={200: api_schemas.MPHeartbeat})
    def get(self, request):
        last = ImportRun.objects.filter(status=ImportRun.Status.SUCCEEDED).order_by("-pk").values_list(
            "pk", "finished_at").first()
        db_version = f"{last[1]:%Y.%m.%d}.post{last[0]}" if last and last[1] else "empty"
        return Response({"db_version": db_version, "version": docs.EMMET_SCHEMA_VERSION,
                         "access_controlled_batch_ids": [],
                         "message": "GNoME Explorer, Materials Project-compatible API: " + ENERGIES})


class SummarySearch(_Search):
    """``materials/summary/``: emmet SummaryDoc documents (structure, composition, symmetry, energies, stability)."""

    fields = docs.SUMMARY_FIELDS
    paths = docs.SUMMARY_PATHS
    model_only = {"uncorrected_energy_per_atom", "origins", "task_ids", "property_name", "has_props", "possible_species",
                  "is_gap_direct", "is_metal", "cbm", "vbm", "efermi", "dos", "dos_energy_up", "dos_energy_down",
                  "bandstructure", "grain_boundaries", "xas", "is_magnetic", "ordering", "total_magnetization",
                  "deprecation_reasons", "phonon_IDs", "prop_origins", *NOT_HERE_RANGES}

    @extend_schema(operation_id="mp_summary_search", tags=["mp-api"], parameters=_parameters(SEARCH_PARAMETERS),
                   responses={200: api_schemas.MPSummaryPage})
    def get(self, request):
        return super().get(request)

    def build(self, rows, fields):
        names = formulas(docs.decomposition_ids(rows)) if "decomposes_to" in fields else {}
        return docs.summary_docs(rows, fields, names)


class MaterialsCoreSearch(_Search):
    """``materials/core/``: emmet MaterialsDoc documents; ``get_structure_by_material_id`` reads ``structure`` here."""

    fields = docs.CORE_FIELDS
    paths = docs.CORE_PATHS
    model_only = {"initial_structures", "task_ids", "calc_types", "task_types", "run_types", "origins",
                  "entries", "deprecated_tasks", "property_name", "deprecation_reasons"}

    @extend_schema(operation_id="mp_core_search", tags=["mp-api"], parameters=_parameters(SEARCH_PARAMETERS),
                   responses={200: api_schemas.MPCorePage})
    def get(self, request):
        return super().get(request)

    def build(self, rows, fields):
        return docs.core_docs(rows, fields)


class ThermoSearch(_Search):
    """``materials/thermo/``: emmet ThermoDoc documents of the phases that build the chosen hull, each with its
    entry; ``get_entries_in_chemsys`` reads them. Only one thermo type is here: ``GGA_GGA+U`` (MP2020)."""

    fields = docs.THERMO_FIELDS
    paths = docs.THERMO_PATHS
    model_only = {"energy_uncertainy_per_atom", "decomposition_enthalpy", "decomposition_enthalpy_decomposes_to",
                  "origins", "property_name", "deprecation_reasons"}
    own_params = {"thermo_types", "thermo_ids"}
    cache_kind = "mp-thermo"

    def cached(self, params):
        # the phases of chemical systems, as the REST API keeps the hull of a system; other searches are built
        # each time, as the REST API's are
        return "chemsys" in params

    @extend_schema(operation_id="mp_thermo_search", tags=["mp-api"], parameters=_parameters(COMMON_PARAMETERS + [
        ("thermo_types", str, "Comma list; only GGA_GGA+U (MP2020-corrected GGA/GGA+U) is held here, others match nothing"),
        ("thermo_ids", str, "Comma list of <material_id>_GGA_GGA+U")]),
        responses={200: api_schemas.MPThermoPage})
    def get(self, request):
        return super().get(request)

    def extra_q(self, params):
        # the phases that build the hull, with an energy on its scale (MP's thermo collection is its hull's entries)
        q = Q(stab__is_member=True, energy_corrected_ev__isnull=False)
        if (raw := params.get("thermo_types")) is not None:
            types = {t.strip() for t in raw.split(",") if t.strip()}
            unknown = sorted(types - KNOWN_THERMO_TYPES)
            if unknown:
                raise Unprocessable("thermo_types", f"unknown thermo type {unknown[0]!r}; "
                                                    f"one of {', '.join(sorted(KNOWN_THERMO_TYPES))}")
            if docs.THERMO_TYPE not in types:
                return q, True  # a valid type with no data here (r2SCAN): nothing, not everything
        if (raw := params.get("thermo_ids")) is not None:
            aliases = []
            for thermo_id in (t.strip() for t in raw.split(",") if t.strip()):
                kind = next((k for k in sorted(KNOWN_THERMO_TYPES, key=len, reverse=True)
                             if thermo_id.endswith("_" + k) and len(thermo_id) > len(k) + 1), None)
                if kind is None:
                    raise Unprocessable("thermo_ids", f"{thermo_id!r} is not <material_id>_<thermo type>")
                if kind == docs.THERMO_TYPE:  # other types have no data here
                    aliases.append(thermo_id.removesuffix("_" + kind))
            ids = material_ids_q(",".join(aliases), "thermo_ids") if aliases else None
            if ids is None:
                return q, True
            q &= ids
        return q, False

    def build(self, rows, fields):
        names = formulas(docs.decomposition_ids(rows)) if "decomposes_to" in fields else {}
        calculations = {}
        if {"entries", "uncorrected_energy_per_atom"} & set(fields):
            found = Calculation.objects.filter(material__material_id__in=[r["material_id"] for r in rows],
                                               method=F("material__energy_method"))
            calculations = {c["material__material_id"]: c for c in found.values(
                "material__material_id", "energy_ev", "correction_scheme")}
        return [docs.thermo_doc(row, fields, names, calculations.get(row["material_id"])) for row in rows]
