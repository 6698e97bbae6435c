"""REST API of the screens: the stage counts of the latest run, each material's way through the funnel,
and a preview of the counts under changed criteria (computed on the fly, nothing stored)."""

from __future__ import annotations

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from materials.models import Material, ScreenResult
from materials.screens import CANDIDATE, OUTCOMES, SCREENS, Criteria

from . import api_schemas, screening, services

MAX_PER_PAGE = 1000


def _screen(name: str) -> tuple:
    if name not in SCREENS:
        raise NotFound(f"unknown screen {name!r}; one of {', '.join(SCREENS)}")
    return SCREENS[name]


class ScreenList(APIView):
    """Every screen, its stages, default criteria and the counts of its latest run."""

    @extend_schema(operation_id="screens_list", responses={200: api_schemas.ScreenListAnswer})
    def get(self, request):
        return Response({"data": services.screen_documents()})


class ScreenDetail(APIView):
    """One screen: its stages and the latest run's criteria and count at every stage."""

    @extend_schema(operation_id="screen_retrieve", responses={200: api_schemas.ScreenDetailAnswer})
    def get(self, request, name: str):
        _screen(name)
        return Response({"data": services.screen_document(name)})


class ScreenResults(APIView):
    """Materials of the latest run by outcome (default: candidates), with every stage's result and reason."""

    @extend_schema(operation_id="screen_results", responses={200: api_schemas.ScreenResultsAnswer}, parameters=[
        OpenApiParameter("outcome", str, enum=list(OUTCOMES)), OpenApiParameter("_page", int),
        OpenApiParameter("_per_page", int)])
    def get(self, request, name: str):
        _screen(name)
        run = services.latest_screen_run(name)
        if run is None:
            raise NotFound(f"{name} has not been run yet (manage.py run_screen {name})")
        outcome = request.query_params.get("outcome", CANDIDATE)
        if outcome not in OUTCOMES:
            raise ValidationError({"outcome": f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}"})
        page, per_page = _int(request, "_page", 1, 1), _int(request, "_per_page", 100, 1)
        if per_page > MAX_PER_PAGE:
            raise ValidationError({"_per_page": f"between 1 and {MAX_PER_PAGE} (requested {per_page})"})
        qs = run.results.filter(outcome=outcome).order_by("material__material_id")
        total = qs.count()
        rows = qs.values("material__material_id", "material__formula_reduced", "material__source", "failed_stage",
                         "stages")[(page - 1) * per_page:page * per_page]
        return Response({
            "data": [{"material_id": r["material__material_id"], "formula_pretty": r["material__formula_reduced"],
                      "source": r["material__source"], "failed_stage": r["failed_stage"], "stages": r["stages"]}
                     for r in rows],
            "meta": {"run": run.pk, "outcome": outcome, "total_doc": total, "page": page, "per_page": per_page},
        })


class ScreenMaterial(APIView):
    """Which stages one material passes in the latest run, and why not."""

    @extend_schema(operation_id="screen_material", responses={200: api_schemas.ScreenMaterialAnswer})
    def get(self, request, name: str, material_id: str):
        title, stages, _ = _screen(name)
        material = get_object_or_404(Material.objects.only("pk", "material_id"), material_id=material_id)
        run = services.latest_screen_run(name)
        if run is None:
            raise NotFound(f"{name} has not been run yet (manage.py run_screen {name})")
        result = ScreenResult.objects.filter(run=run, material=material).first()
        if result is None:  # only materials past the first stage are stored
            doc = {"outcome": "failed", "failed_stage": stages[0].name,
                   "stages": [{"stage": stages[0].name, "result": "fail", "why": f"fails: {stages[0].description}"}]}
        else:
            doc = {"outcome": result.outcome, "failed_stage": result.failed_stage, "stages": result.stages}
        return Response({"data": {"material_id": material_id, "screen": name, "run": run.pk, **doc}})


class ScreenPreview(APIView):
    """The stage counts under changed criteria (query parameters named as the criteria), nothing stored.

    Windows a new criterion needs are computed and kept (the hull fixes them); everything else is
    recomputed from the catalogue.
    """

    @extend_schema(operation_id="screen_preview", responses={200: api_schemas.ScreenPreviewAnswer}, parameters=[
        OpenApiParameter(f.name, str, description=f"default {getattr(Criteria(), f.name)!r}")
        for f in Criteria.__dataclass_fields__.values()])
    def get(self, request, name: str):
        _, _, default = _screen(name)
        try:
            criteria = Criteria.from_params(request.query_params.dict(), default)
        except ValueError as exc:
            param, _, message = str(exc).partition(": ")
            raise ValidationError({param: message}) from None
        try:
            result, criteria = screening.funnel(name, criteria)
        except screening.ScreenError as exc:
            raise ValidationError({"screen": str(exc)}) from None
        return Response({"data": {"screen": name, "criteria": asdict(criteria), "stages": result.counts(),
                                  "summary": result.summary()}})


def _int(request, name: str, default: int, minimum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: f"{raw!r} is not an integer"}) from None
    if value < minimum:
        raise ValidationError({name: f"at least {minimum}"})
    return value
