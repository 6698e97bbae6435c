"""REST API of the catalogue: Materials Project-style search and one material's record."""

from __future__ import annotations

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from . import api_schemas, export, services, similarity
from . import query as catalogue_query
from .fingerprint import FINGERPRINT_VERSION
from .models import Material

API_VERSION = "1"


def _invalid(exc: catalogue_query.QueryError) -> ValidationError:
    """The 400 of a bad search parameter, naming it."""
    return ValidationError({exc.param: exc.message})


def _parse(params) -> catalogue_query.MaterialQuery:
    try:
        return catalogue_query.parse(params)
    except catalogue_query.QueryError as exc:
        raise _invalid(exc) from None


class MaterialList(APIView):
    """Search the catalogue with Materials Project parameter names; ``{data, meta: {total_doc, ...}}``."""

    @extend_schema(
        parameters=[OpenApiParameter(n, t, description=d) for n, t, d in catalogue_query.openapi_parameters()],
        responses={200: api_schemas.MaterialSearchPage},
        operation_id="materials_search",
    )
    def get(self, request):
        try:
            found = services.search_materials(request.query_params)
        except catalogue_query.QueryError as exc:
            raise _invalid(exc) from None
        query, rows, total = found.query, found.rows, found.total
        return Response({
            "data": found.documents,
            "meta": {
                "api_version": API_VERSION,
                "time_stamp": timezone.now().isoformat(),
                "total_doc": total.count,
                "total_doc_is_estimate": total.estimate,
                "page": None if query.after is not None else query.page,
                "per_page": query.per_page,
                "max_page": max(1, -(-total.count // query.per_page)),
                # keyset paging: pass it as _cursor (same filters and sort) for the next page, at any depth
                "next_cursor": query.cursor_after(rows[-1]) if len(rows) == query.per_page else None,
                "hull": query.hull,
                "energies": "formation energies and energies above hull from stored energies; see energy_method "
                            "(DFT for GNoME and Materials Project data, model-predicted where the method says so)",
            },
        })


class MaterialDetail(APIView):
    """One material: every field, its structure, its energy records and its stability on both hulls."""

    @extend_schema(operation_id="material_retrieve", responses={200: api_schemas.MaterialRecordPage})
    def get(self, request, material_id: str):
        try:
            doc = services.material_document(material_id, request.query_params.copy())
        except catalogue_query.QueryError as exc:
            raise _invalid(exc) from None
        if doc is None:
            raise Http404("No Material matches the given query.")
        return Response({"data": [doc], "meta": {"api_version": API_VERSION, "total_doc": 1}})


class MaterialSimilar(APIView):
    """The catalogue materials whose structures are most like this one's, by fingerprint distance."""

    @extend_schema(operation_id="material_similar", responses={200: api_schemas.SimilarAnswer},
                   parameters=[OpenApiParameter("k", int, description=f"How many (count, 1 to {similarity.MAX_K}; "
                                                                       "default 5)")])
    def get(self, request, material_id: str):
        raw = request.query_params.get("k", "5")
        k = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
        if not 1 <= k <= similarity.MAX_K:
            raise ValidationError({"k": f"must be an integer from 1 to {similarity.MAX_K}, not {raw!r}"})
        try:
            rows = similarity.similar_to_material(material_id, k)
        except similarity.UnknownMaterial:
            raise Http404(f"no material {material_id!r}") from None
        return Response({"data": rows, "meta": {"api_version": API_VERSION, "material_id": material_id, "k": k,
                                                "fingerprint": FINGERPRINT_VERSION}})


STRUCTURE_FORMATS = {
    # fmt -> (content type, file extension)
    "cif": ("chemical/x-cif", "cif"),
    "cif_symmetrized": ("chemical/x-cif", "cif"),
    "poscar": ("text/plain", "vasp"),
    "json": ("application/json", "json"),
    "extxyz": ("chemical/x-xyz", "extxyz"),
}
CELLS = ("input", "primitive", "conventional")


def _formats_by_type() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for fmt, (content_type, _) in STRUCTURE_FORMATS.items():
        out.setdefault(content_type, []).append(fmt)
    return out


class MaterialStructure(APIView):
    """The structure as a file: CIF, symmetrized CIF, POSCAR, pymatgen JSON or extended XYZ."""

    @extend_schema(
        parameters=[OpenApiParameter("fmt", str, enum=list(STRUCTURE_FORMATS)),
                    OpenApiParameter("cell", str, enum=list(CELLS))],
        responses={(200, content_type): OpenApiResponse(api_schemas.PymatgenStructure if content_type == "application/json"
                                                        else OpenApiTypes.STR,
                                                        description=f"The structure as {', '.join(fmts)}")
                   for content_type, fmts in _formats_by_type().items()},
    )
    def get(self, request, material_id: str):
        fmt = request.query_params.get("fmt", "cif")
        cell = request.query_params.get("cell", "input")
        if fmt not in STRUCTURE_FORMATS:
            raise ValidationError({"fmt": f"unknown format {fmt!r}; one of {', '.join(STRUCTURE_FORMATS)}"})
        if cell not in CELLS:
            raise ValidationError({"cell": f"unknown cell {cell!r}; one of {', '.join(CELLS)}"})
        material = get_object_or_404(Material.objects.only("material_id", "structure", "formula_reduced", "licence"),
                                     material_id=material_id)
        structure = material.get_structure()
        if structure is None:
            raise ValidationError({"material_id": f"{material_id} has no structure (an energy-only hull phase)"})
        text = structure_text(structure, fmt, cell)
        content_type, extension = STRUCTURE_FORMATS[fmt]
        name = f"{material.material_id}_{material.formula_reduced}_{cell}.{extension}"
        response = HttpResponse(text, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Licence"] = material.licence
        return response


def structure_text(structure, fmt: str, cell: str) -> str:
    """The structure written in ``fmt`` for the chosen ``cell`` (symmetry found with symprec 0.1).

    ``cif_symmetrized`` lists the symmetry operations and the asymmetric unit (pymatgen's CifWriter with
    symprec), which always describes the conventional standard cell.
    """
    import io

    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.cif import CifWriter
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from .science import SYMPREC

    if cell == "primitive":
        structure = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_primitive_standard_structure()
    elif cell == "conventional":
        structure = SpacegroupAnalyzer(structure, symprec=SYMPREC).get_conventional_standard_structure()
    if fmt == "cif":
        return str(CifWriter(structure))
    if fmt == "cif_symmetrized":
        return str(CifWriter(structure, symprec=SYMPREC))
    if fmt == "poscar":
        return structure.to(fmt="poscar")
    if fmt == "json":
        return structure.to(fmt="json")
    buffer = io.StringIO()
    write(buffer, AseAtomsAdaptor.get_atoms(structure), format="extxyz")
    return buffer.getvalue()


class MaterialExport(APIView):
    """Every material matching the search parameters, streamed as JSON lines or CSV (no paging)."""

    @extend_schema(
        parameters=[OpenApiParameter("fmt", str, enum=["jsonl", "csv"]),
                    OpenApiParameter("include_structure", bool, description="jsonl only")]
        + [OpenApiParameter(n, t, description=d) for n, t, d in catalogue_query.openapi_parameters()
           if n not in {"_page", "_per_page"}],
        responses={(200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description="One JSON document "
                                                                  "per line (the search's fields, with units)"),
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row")},
    )
    def get(self, request):
        params = request.query_params.copy()
        fmt = params.pop("fmt", ["jsonl"])[-1]
        with_structure = params.pop("include_structure", ["false"])[-1].lower() == "true"
        if fmt not in {"jsonl", "csv"}:
            raise ValidationError({"fmt": f"unknown export format {fmt!r}; jsonl or csv"})
        if with_structure and fmt != "jsonl":
            raise ValidationError({"include_structure": "structures are exported in jsonl only"})
        for name in ("_page", "_per_page"):
            if name in params:
                raise ValidationError({name: "an export has no pages; it streams every match"})
        query = _parse(params)
        if fmt == "jsonl":
            response = StreamingHttpResponse(export.jsonl_lines(query, with_structure), content_type="application/x-ndjson")
        else:
            response = StreamingHttpResponse(export.csv_lines(query), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="gnome-explorer-materials.{fmt}"'
        response["X-Licence-Note"] = export.LICENCE_NOTE
        return response
