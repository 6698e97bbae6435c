"""REST API of the hull: the phase diagram of a chemical system and the stability of hypothetical entries."""

from __future__ import annotations

import math

from drf_spectacular.utils import OpenApiParameter, extend_schema
from pymatgen.core import Composition, Element
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from materials import versioned_cache
from materials.chemsys import ChemsysError, chemsys_elements, subsystems_of
from materials.services import formulas

from . import api_schemas, services
from .models import HULL_SET_SOURCES, HullSet, Stability

MAX_ELEMENTS = 10
MAX_QUERY_ENTRIES = 1000
FIGURE_MAX_ELEMENTS = 4
ENERGY_LABEL = ("energies as stored: DFT (GNoME PBE/PBE+U, Materials Project GGA/GGA+U, MP2020-compatible) "
                "unless the method says otherwise")


def _hull_param(request) -> str:
    hull = request.query_params.get("hull", HullSet.ALL)
    if hull not in HULL_SET_SOURCES:
        raise ValidationError({"hull": f"unknown hull set {hull!r}; choose 'all' or 'mp'"})
    return hull


def parse_chemsys(text: str) -> list[str]:
    try:
        elements = chemsys_elements(text)
    except ChemsysError as exc:
        raise ValidationError({"chemsys": str(exc)}) from None
    if len(elements) > MAX_ELEMENTS:
        raise ValidationError({"chemsys": f"{len(elements)} elements; at most {MAX_ELEMENTS} are accepted"})
    return elements


def _decomposition(pairs, names: dict[str, str]) -> list[dict]:
    return [{"material_id": i, "formula": names.get(i, ""), "fraction": round(f, 10)} for i, f in pairs]


def _cached_per_version(kind: str, hull: str, elements: list[str], build) -> Response:
    """A response built once per data version (a recompute or an import makes a new one, so nothing stale is
    served; materials.versioned_cache)."""
    system = "-".join(elements)
    return Response(versioned_cache.cached(
        kind, f"{hull}:{system}", lambda: build(system, elements, hull, services.current_version(hull))))


class HullDetail(APIView):
    """Every phase of a chemical system (and its subsystems) against a hull set, with the plot data."""

    @extend_schema(parameters=[OpenApiParameter("hull", str, enum=["all", "mp"])],
                   responses={200: api_schemas.HullDetailAnswer})
    def get(self, request, chemsys: str):
        elements = parse_chemsys(chemsys)
        return _cached_per_version("hull-detail", _hull_param(request), elements, self.build)

    def build(self, system: str, elements: list[str], hull: str, version: int | None) -> dict:
        subsystems = services.subsystems([system])
        rows = list(
            Stability.objects.filter(hull_set=hull, material__chemsys__in=subsystems)
            .select_related("material")
            .order_by("e_above_hull_ev_per_atom", "material__material_id")
        )
        names = formulas({i for r in rows for i, _ in r.decomposition})
        entries = []
        for r in rows:
            m = r.material
            comp = Composition(m.formula)
            entries.append({
                "material_id": m.material_id,
                "formula": m.formula_reduced,
                "source": m.source,
                "licence": m.licence,
                "is_member": r.is_member,
                "energy_method": m.energy_method,
                "e_form_ev_per_atom": r.e_form_ev_per_atom,
                "e_above_hull_ev_per_atom": r.e_above_hull_ev_per_atom,
                "is_stable": r.is_stable,
                "phase_separation_ev_per_atom": r.phase_separation_ev_per_atom,
                "decomposition": _decomposition(r.decomposition, names),
                "published_e_above_hull_ev_per_atom": r.published_e_above_hull_ev_per_atom,
                "published_column": r.published_column,
                "disagrees_with_published": r.disagrees,
                "note": r.note,
                "fractions": [round(comp.get_atomic_fraction(Element(e)), 10) for e in elements],
            })
        member_systems = {r.material.chemsys for r in rows if r.is_member}
        missing_binaries = [b for b in subsystems_of(elements, sizes=(2,)) if b not in member_systems]
        return {
            "chemsys": system,
            "hull": hull,
            "hull_version": version,
            "energies": ENERGY_LABEL,
            "elements": elements,
            "stable": [e["material_id"] for e in entries if e["is_member"] and e["is_stable"]],
            "entries": entries,
            "completeness": {
                "binary_systems_without_phases": missing_binaries,
                "note": "hull built only from the phases in this catalogue; a system missing known phases "
                        "(for example Fe-O and Mg-O are absent from the Materials Project snapshot) has an "
                        "incomplete hull" if missing_binaries else "",
            },
            "figure": f"/api/v1/hull/{system}/figure/?hull={hull}" if len(elements) <= FIGURE_MAX_ELEMENTS else None,
        }


class HullFigure(APIView):
    """The phase diagram as a plotly figure (JSON), for binaries, ternaries and quaternaries."""

    @extend_schema(parameters=[OpenApiParameter("hull", str, enum=["all", "mp"])],
                   responses={200: api_schemas.HullFigureAnswer})
    def get(self, request, chemsys: str):
        elements = parse_chemsys(chemsys)
        if len(elements) < 2 or len(elements) > FIGURE_MAX_ELEMENTS:
            raise ValidationError({"chemsys": f"figures are drawn for 2 to {FIGURE_MAX_ELEMENTS} elements"})
        return _cached_per_version("hull-figure", _hull_param(request), elements, self.build)

    def build(self, system: str, _elements: list[str], hull: str, _version: int | None) -> dict:
        try:
            return services.phase_diagram_figure(system, hull)
        except services.FigureError as exc:
            raise ValidationError({"chemsys": str(exc)}) from None


class StabilityQuery(APIView):
    """POST hypothetical entries (formula + energy) -> formation energy, energy above hull, decomposition.

    Open to anonymous users: a computation against the stored hull that writes nothing."""

    permission_classes = [AllowAny]

    @extend_schema(request=api_schemas.StabilityRequest, responses={200: api_schemas.StabilityAnswer})
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise ValidationError({"body": "expected a JSON object"})
        hull = body.get("hull", HullSet.ALL)
        if hull not in HULL_SET_SOURCES:
            raise ValidationError({"hull": f"unknown hull set {hull!r}; choose 'all' or 'mp'"})
        items = body.get("entries", [body] if "formula" in body else None)
        if not isinstance(items, list) or not items:
            raise ValidationError({"entries": "give 'entries': a list of {formula, energy_ev | energy_ev_per_atom}"})
        if len(items) > MAX_QUERY_ENTRIES:
            raise ValidationError({"entries": f"{len(items)} entries; at most {MAX_QUERY_ENTRIES} per request"})
        parsed = [self.parse(i, item) for i, item in enumerate(items)]
        version, index = services.hull_index(hull)
        results, errors = [], []
        for i, (formula, kwargs) in enumerate(parsed):
            try:
                results.append((formula, index.query(formula, **kwargs)))
            except ValueError as exc:  # engine.NotPlaceableError included
                errors.append({"index": i, "field": "formula", "message": str(exc)})
        if errors:
            raise ValidationError({"entries": errors})
        names = formulas({i for _, r in results for i, _ in r.decomposition})
        return Response({
            "hull": hull,
            "hull_version": version,
            "energies": "as supplied by the caller; compared with the stored hull (MP2020-compatible scale)",
            "results": [
                {
                    "formula": formula,
                    "chemsys": r.chemsys,
                    "e_form_ev_per_atom": r.e_form_ev_per_atom,
                    "e_above_hull_ev_per_atom": r.e_above_hull_ev_per_atom,
                    "is_stable": r.is_stable,
                    "decomposition": _decomposition(r.decomposition, names),
                }
                for formula, r in results
            ],
        })

    @staticmethod
    def parse(i: int, item) -> tuple[str, dict]:
        if not isinstance(item, dict):
            raise ValidationError({"entries": [{"index": i, "message": "each entry must be an object"}]})
        formula = item.get("formula")
        if not isinstance(formula, str) or not formula.strip() or len(formula) > 200:
            raise ValidationError({"entries": [{"index": i, "field": "formula",
                                                "message": "a formula (at most 200 characters) is required"}]})
        try:
            comp = Composition(formula)
        except Exception:
            raise ValidationError({"entries": [{"index": i, "field": "formula",
                                                "message": f"malformed formula {formula!r}"}]}) from None
        if any(not Element.is_valid_symbol(getattr(el, "symbol", str(el))) for el in comp.elements):
            raise ValidationError({"entries": [{"index": i, "field": "formula",
                                                "message": f"unknown element in {formula!r}"}]})
        if len(comp.elements) > MAX_ELEMENTS:
            raise ValidationError({"entries": [{"index": i, "field": "formula",
                                                "message": f"{len(comp.elements)} elements; at most {MAX_ELEMENTS}"}]})
        given = [k for k in ("energy_ev", "energy_ev_per_atom") if item.get(k) is not None]
        if len(given) != 1:
            raise ValidationError({"entries": [{"index": i, "field": "energy_ev",
                                                "message": "give exactly one of energy_ev (eV per formula as written) "
                                                           "and energy_ev_per_atom"}]})
        value = item[given[0]]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError({"entries": [{"index": i, "field": given[0],
                                                "message": f"{given[0]} must be a finite number"}]})
        return formula, {given[0]: float(value)}


