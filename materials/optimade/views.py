"""OPTIMADE 1.2.0 API of the catalogue under ``/optimade/``: versions, info, links, structures.

JSON:API documents throughout: every response has ``meta``; every error is ``{errors: [...], meta}``
with the HTTP status as the spec asks (400 bad filter or parameter, 403 page_limit above the maximum,
404 unknown entry or endpoint, 501 a valid filter we cannot answer, 553 an unsupported version).
Anonymous throttling is the REST API's (429 with Retry-After).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import APIException, Throttled
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import api_schemas
from ..counting import settled
from ..counting import total as catalogue_total
from ..query import MAX_INT, MaterialQuery
from . import filters
from .properties import API_VERSION, PROPERTIES, PROVIDER_PREFIX, ROW_PATHS, entry

DEFAULT_PAGE_LIMIT = 20
MAX_PAGE_LIMIT = 1000
MEDIA_TYPE = "application/vnd.api+json"
PROVIDER = {
    "name": "GNoME Explorer",
    "description": "Stable crystals discovered by graph networks (GNoME) and the Materials Project convex hull, "
                   "with stability on the combined hull",
    "prefix": PROVIDER_PREFIX,
    "homepage": None,
}
LICENSES = ["CC-BY-NC-4.0", "CC-BY-4.0"]
STANDARD_PARAMETERS = {"filter", "page_limit", "page_offset", "page_number", "page_above", "sort", "response_format",
                       "email_address", "response_fields", "include", "api_hint"}


class OptimadeError(APIException):
    def __init__(self, status: int, title: str, detail: str, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.status_code = status
        self.title = title
        self.parameter = parameter


def _base_url(request) -> str:
    return request.build_absolute_uri("/optimade/").rstrip("/")


def _meta(request, *, returned: int | None = None, more: bool = False, available: int | None = None,
          warnings: list[str] | None = None) -> dict:
    path = request.path.split("/optimade/v1", 1)[-1] or "/"
    query = request.META.get("QUERY_STRING", "")
    meta = {
        "query": {"representation": path + (f"?{query}" if query else "")},
        "api_version": API_VERSION,
        "more_data_available": more,
        "time_stamp": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "provider": PROVIDER | {"homepage": request.build_absolute_uri("/")},
        "implementation": {"name": "GNoME Explorer", "version": "1",
                           "source_url": None, "maintainer": None},
        "schema": request.build_absolute_uri("/optimade/v1/info"),
    }
    if returned is not None:
        meta["data_returned"] = returned
    if available is not None:
        meta["data_available"] = available
    if warnings:
        meta["warnings"] = [{"type": "warning", "detail": w} for w in warnings]
    return meta


class JsonApiRenderer(JSONRenderer):
    media_type = MEDIA_TYPE


class OptimadeView(APIView):
    """Base: JSON:API media type, JSON:API errors, the REST API's throttling, no authentication."""

    renderer_classes = [JsonApiRenderer]
    authentication_classes: list = []

    def perform_content_negotiation(self, request, force=False):
        # one representation whatever the Accept header says (clients send application/json or */*)
        renderer = JsonApiRenderer()
        return renderer, renderer.media_type

    def handle_exception(self, exc):
        if isinstance(exc, OptimadeError):
            status, title, detail, parameter = exc.status_code, exc.title, str(exc.detail), exc.parameter
        elif isinstance(exc, Throttled):
            response = super().handle_exception(exc)
            status, title, detail, parameter = 429, "Too Many Requests", str(exc.detail), None
            body = {"errors": [{"status": "429", "title": title, "detail": detail}], "meta": _meta(self.request)}
            response.data = body
            return response
        elif isinstance(exc, APIException):
            status, title, detail, parameter = exc.status_code, exc.__class__.__name__, str(exc.detail), None
        else:
            raise exc
        error = {"status": str(status), "title": title, "detail": detail}
        if parameter:
            error["source"] = {"parameter": parameter}
        return Response({"errors": [error], "meta": _meta(self.request)}, status=status)

    def check_params(self, request, allowed: set[str]) -> list[str]:
        """Standard parameters are accepted (format checked); unknown ones give a warning, as the spec says."""
        warnings = []
        fmt = request.query_params.get("response_format", "json")
        if fmt != "json":
            raise OptimadeError(400, "Bad Request", f"response_format {fmt!r} is not served; only 'json'",
                                "response_format")
        include = request.query_params.get("include")
        if include not in (None, "", "references"):
            raise OptimadeError(400, "Bad Request", f"include={include!r}: structures here have no relationships",
                                "include")
        for name in request.query_params:
            if name not in allowed and name not in STANDARD_PARAMETERS and not name.startswith(f"_{PROVIDER_PREFIX}_"):
                warnings.append(f"query parameter {name!r} is not known and was ignored")
        return warnings


def versions(request):
    """``/optimade/versions``: the major versions served, as CSV."""
    return HttpResponse("version\n1\n", content_type="text/csv; header=present")


def unsupported_version(request, version: str, rest: str = ""):
    body = {"errors": [{"status": "553", "title": "Version Not Supported",
                        "detail": f"version {version!r} is not served; use /optimade/v1"}],
            "meta": {"api_version": API_VERSION, "more_data_available": False,
                     "query": {"representation": request.get_full_path()}}}
    response = JsonResponse(body, status=553, content_type=MEDIA_TYPE)
    response["Access-Control-Allow-Origin"] = "*"
    return response


ENTRY_PARAMETERS = [
    OpenApiParameter("filter", str, description='OPTIMADE filter, e.g. elements HAS ALL "Li","O" AND nelements=3 '
                                                "or _gnx_energy_above_hull < 0.025"),
    OpenApiParameter("page_limit", int, description=f"Entries per page, 1 to {MAX_PAGE_LIMIT} (default "
                                                    f"{DEFAULT_PAGE_LIMIT}); 0 or less is a 400, above the maximum a 403"),
    OpenApiParameter("page_offset", int, description="Entries to skip (0 or more)"),
    OpenApiParameter("page_number", int, description="Page from 1 (instead of page_offset)"),
    OpenApiParameter("page_above", str, description="Value-based paging: entries with an id above this one"),
    OpenApiParameter("sort", str, description="Comma list of sortable properties; - for descending"),
    OpenApiParameter("response_fields", str, description="Comma list of properties to return (id and type always)"),
]


class Info(OptimadeView):
    """``/optimade/v1/info``: what this database serves."""

    @extend_schema(operation_id="optimade_info", responses={200: api_schemas.OptimadeInfoPage}, tags=["optimade"])
    def get(self, request):
        base = _base_url(request)
        return Response({
            "data": {
                "type": "info",
                "id": "/",
                "attributes": {
                    "api_version": API_VERSION,
                    "available_api_versions": [{"url": f"{base}/v1/", "version": API_VERSION}],
                    "formats": ["json"],
                    "entry_types_by_format": {"json": ["structures"]},
                    "available_endpoints": ["info", "links", "structures"],
                    "is_index": False,
                    "license": {"href": "https://creativecommons.org/licenses/by-nc/4.0/"},
                    "available_licenses": LICENSES,
                },
            },
            "meta": _meta(request),
        })


class StructuresInfo(OptimadeView):
    """``/optimade/v1/info/structures``: the properties of a structure entry."""

    @extend_schema(operation_id="optimade_info_structures", responses={200: api_schemas.OptimadeStructuresInfoPage},
                   tags=["optimade"])
    def get(self, request):
        return Response({
            "data": {
                "id": "structures",
                "type": "info",
                "description": "Crystal structures of the catalogue (GNoME discoveries, uploads, discovery rounds); "
                               "energy-only Materials Project hull phases have no structure and are not listed.",
                "properties": {name: prop.info() for name, prop in PROPERTIES.items() if prop.listed},
                "formats": ["json"],
                "output_fields_by_format": {"json": list(PROPERTIES)},
            },
            "meta": _meta(request),
        })


class Links(OptimadeView):
    """``/optimade/v1/links``: no child databases, no index: an empty list."""

    @extend_schema(operation_id="optimade_links", responses={200: api_schemas.OptimadeLinksPage}, tags=["optimade"])
    def get(self, request):
        return Response({"data": [], "meta": _meta(request, returned=0, available=0)})


def _sort(raw: str | None) -> tuple:
    if not raw:
        return ("material_id",)
    order = []
    for part in raw.split(","):
        name = part.strip().lstrip("-")
        prop = PROPERTIES.get(name)
        if prop is None or not prop.sortable:
            sortable = ", ".join(n for n, p in PROPERTIES.items() if p.sortable)
            raise OptimadeError(400, "Bad Request", f"cannot sort by {name!r}; sortable: {sortable}", "sort")
        from django.db.models import F

        expr = F(prop.path)
        order.append(expr.desc(nulls_last=True) if part.strip().startswith("-") else expr.asc(nulls_last=True))
    return (*order, "material_id")


def _response_fields(request, warnings: list[str]) -> list[str] | None:
    """Requested attributes (``id`` and ``type`` always come); fields not served are left out with a warning."""
    raw = request.query_params.get("response_fields")
    if raw is None:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    unknown = [f for f in dict.fromkeys(fields) if f not in PROPERTIES]
    if unknown:
        warnings.append(f"response_fields not served here, left out: {', '.join(unknown)}")
    return [f for f in dict.fromkeys(fields) if f in PROPERTIES and f not in ("id", "type")]


def _int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw == "":
        raise OptimadeError(400, "Bad Request", f"{name} is empty; give an integer", name)
    try:
        value = int(raw)
    except ValueError:
        raise OptimadeError(400, "Bad Request", f"{name}={raw!r} is not an integer", name) from None
    if value < 0:
        raise OptimadeError(400, "Bad Request", f"{name} cannot be negative", name)
    if value > MAX_INT:
        raise OptimadeError(400, "Bad Request", f"{name}={raw[:40]!r} is out of range (at most {MAX_INT})", name)
    return value


def _structures(request, q):
    return MaterialQuery(q=q & ~filters.Q(structure__isnull=True)).queryset()


class Structures(OptimadeView):
    """``/optimade/v1/structures``: filter, sort, page (page_limit + page_offset or page_number; page_above for
    value-based paging by id, which the next link uses when the order is by id), response_fields."""

    @extend_schema(operation_id="optimade_structures", parameters=ENTRY_PARAMETERS,
                   responses={200: api_schemas.OptimadeEntryPage}, tags=["optimade"])
    def get(self, request):
        warnings = self.check_params(request, set())
        found: list[str] = []
        try:
            q = filters.parse(request.query_params.get("filter", ""), found)
        except filters.BadFilter as exc:
            raise OptimadeError(400, "Bad Request", str(exc), "filter") from None
        except filters.NotImplementedFilter as exc:
            raise OptimadeError(501, "Not Implemented", str(exc), "filter") from None
        warnings += found
        limit = _int(request, "page_limit", DEFAULT_PAGE_LIMIT)
        if limit < 1:  # JSON:API: a page size is positive; a page of nothing is no page
            raise OptimadeError(400, "Bad Request", f"page_limit must be at least 1 (got {limit})", "page_limit")
        if limit > MAX_PAGE_LIMIT:
            raise OptimadeError(403, "Forbidden", f"page_limit {limit} is above the maximum of {MAX_PAGE_LIMIT}",
                                "page_limit")
        above = request.query_params.get("page_above")
        if above is not None and (request.query_params.get("sort")
                                  or {"page_offset", "page_number"} & set(request.query_params)):
            raise OptimadeError(400, "Bad Request", "page_above pages by id: it takes neither sort nor page_offset "
                                "nor page_number", "page_above")
        if "page_number" in request.query_params:
            number = _int(request, "page_number", 1)
            if number < 1:  # pages are numbered from 1, as the specification recommends and we say
                raise OptimadeError(400, "Bad Request", f"page_number starts at 1 (got {number})", "page_number")
            if "page_offset" in request.query_params:
                raise OptimadeError(400, "Bad Request", "give page_offset or page_number, not both", "page_number")
            offset = (number - 1) * limit
        else:
            offset = _int(request, "page_offset", 0)
        fields = _response_fields(request, warnings)
        sort = _sort(request.query_params.get("sort"))
        query = MaterialQuery(q=q & ~filters.Q(structure__isnull=True), sort=sort)
        qs = query.queryset()
        total = catalogue_total(qs)
        # one row more than the page says whether there is a next one, without trusting an estimated total
        if above is not None:  # value-based paging (OPTIMADE page_above): as fast at any depth
            rows = list(qs.filter(material_id__gt=above).values(*ROW_PATHS)[:limit + 1]) if limit else []
        else:
            rows = query.page_rows(ROW_PATHS, qs, slice(offset, offset + limit + 1)) if limit else []
        more, rows = len(rows) > limit, rows[:limit]
        total = settled(total, above is None and offset == 0, len(rows) + more, limit + 1)
        links = {"next": None}
        if more:
            params = request.query_params.copy()
            if sort == ("material_id",) and "page_offset" not in params and "page_number" not in params:
                params["page_above"] = rows[-1]["material_id"]
            else:
                params["page_offset"] = str(offset + limit)
                params.pop("page_number", None)
            links["next"] = request.build_absolute_uri(request.path) + "?" + urlencode(params, doseq=True)
        meta = _meta(request, returned=total.count, more=more, warnings=warnings)
        if total.estimate:
            meta[f"_{PROVIDER_PREFIX}_data_returned_is_estimate"] = True
        return Response({"data": [entry(row, fields) for row in rows], "links": links, "meta": meta})


class Structure(OptimadeView):
    """``/optimade/v1/structures/{id}``."""

    @extend_schema(operation_id="optimade_structure", parameters=ENTRY_PARAMETERS[-1:],
                   responses={200: api_schemas.OptimadeSingleEntry},
                   tags=["optimade"])
    def get(self, request, entry_id: str):
        warnings = self.check_params(request, set())
        fields = _response_fields(request, warnings)
        row = _structures(request, filters.Q(material_id=entry_id)).values(*ROW_PATHS).first()
        if row is None:
            raise OptimadeError(404, "Not Found", f"no structure with id {entry_id!r}")
        return Response({"data": entry(row, fields), "links": {"next": None},
                         "meta": _meta(request, returned=1, warnings=warnings)})


def not_found(request, rest: str = ""):
    body = {"errors": [{"status": "404", "title": "Not Found", "detail": f"no OPTIMADE endpoint {request.path!r}"}],
            "meta": {"api_version": API_VERSION, "more_data_available": False,
                     "query": {"representation": request.get_full_path()}}}
    return JsonResponse(body, status=404, content_type=MEDIA_TYPE)

