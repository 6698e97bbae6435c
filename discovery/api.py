"""REST API of the discovery rounds: read-only for the public; starting a round needs a staff user.

Energies of candidates are the GNN ensemble's predictions and the evaluator's (a machine-learned potential by
default): each is labelled with the method that made it, none is DFT.
"""

from __future__ import annotations

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from materials.permissions import ReadOnlyOrStaff as BaseReadOnlyOrStaff

from . import rounds
from .models import Candidate, DiscoveryRound

MAX_PER_PAGE = 500


class ReadOnlyOrStaff(BaseReadOnlyOrStaff):
    message = "starting a discovery round needs a staff account"


def round_doc(rnd: DiscoveryRound, full: bool = False) -> dict:
    doc = {
        "id": rnd.pk, "name": rnd.name, "status": rnd.status, "stage": rnd.stage, "progress": rnd.progress,
        "counts": rnd.counts, "hit_rate": rnd.metrics.get("hit_rate"), "prevalence": rnd.metrics.get("prevalence"),
        "daf": rnd.metrics.get("daf"), "created_at": rnd.created_at, "started_at": rnd.started_at,
        "finished_at": rnd.finished_at,
    }
    if full:
        doc.update(config=rnd.config, metrics=rnd.metrics, timings={k: v for k, v in rnd.timings.items()
                                                                     if not k.startswith("_")},
                   error=rnd.error, screened_with=rnd.checkpoint.name if rnd.checkpoint else "released GNN ensemble",
                   energies={"predicted": "GNoME GNN ensemble (machine-learned, median of members over 20 volumes)",
                             "evaluated": f"{rnd.config.get('evaluator')} relaxation (machine-learned potential, "
                                          "not DFT)"})
    return doc


def candidate_doc(c: Candidate) -> dict:
    return {
        "id": c.pk, "key": c.key, "formula": c.formula_reduced, "method": c.method, "parent": c.parent,
        "detail": c.detail, "arm": c.arm or None,
        "predicted": {"e_form_ev_per_atom": c.e_form_pred_ev_per_atom, "iqr_ev_per_atom": c.e_form_iqr_ev_per_atom,
                      "e_above_hull_ev_per_atom": c.e_above_hull_pred_ev_per_atom,
                      "method": "GNN ensemble (machine-learned; TTA as the round's config says)",
                      "error": c.screen_error or None},
        # when it was screened: which binaries of its system held a compound on the "all" hull
        "hull_completeness": c.hull_completeness or None,
        "evaluated": None if not c.evaluation else {
            "status": c.evaluation, "method": c.evaluator, "e_form_ev_per_atom": c.e_form_ev_per_atom,
            "e_above_hull_ev_per_atom": c.e_above_hull_ev_per_atom, "is_stable": c.is_stable,
            "material_id": c.material.material_id if c.material_id else None,
            "detail": c.evaluation_detail},
    }


class RoundList(APIView):
    """GET: every round with its stage, counts, hit rate, prevalence and DAF. POST (staff): start a round with
    a configuration (fields of ``discovery.rounds.DEFAULTS``)."""

    permission_classes = [ReadOnlyOrStaff]

    @extend_schema(operation_id="discovery_rounds_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"data": [round_doc(r) for r in DiscoveryRound.objects.all()[:200]]})

    @extend_schema(operation_id="discovery_rounds_create", request=OpenApiTypes.OBJECT,
                   responses={202: OpenApiTypes.OBJECT})
    def post(self, request):
        from .tasks import advance_round

        if not isinstance(request.data, dict):
            raise ValidationError({"config": "send a JSON object of round settings"})
        data = dict(request.data)
        name = str(data.pop("name", ""))[:100]
        try:
            rnd = rounds.create_round(data, name=name, user=request.user.get_username())
        except rounds.RoundError as exc:
            raise ValidationError({"config": str(exc)}) from None
        transaction.on_commit(lambda: advance_round.delay(rnd.pk))
        return Response({"data": round_doc(rnd, full=True)}, status=202)


class RoundDetail(APIView):
    """One round: configuration, stage, counts, timings, metrics and the new stable materials."""

    @extend_schema(operation_id="discovery_round_retrieve", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: int):
        return Response({"data": round_doc(get_object_or_404(DiscoveryRound.objects.select_related("checkpoint"),
                                                             pk=pk), full=True)})


class RoundCandidates(APIView):
    """Candidates of a round: predicted against evaluated energies (``arm=filtered|control`` for the evaluated)."""

    @extend_schema(operation_id="discovery_round_candidates", responses={200: OpenApiTypes.OBJECT}, parameters=[
        OpenApiParameter("arm", str, enum=["filtered", "control", "any"]), OpenApiParameter("_page", int),
        OpenApiParameter("_per_page", int)])
    def get(self, request, pk: int):
        rnd = get_object_or_404(DiscoveryRound, pk=pk)
        qs = Candidate.objects.filter(round=rnd).select_related("material").order_by("pk")
        arm = request.query_params.get("arm")
        if arm not in (None, "", "filtered", "control", "any"):
            raise ValidationError({"arm": f"unknown arm {arm!r}; one of filtered, control, any"})
        if arm == "any":
            qs = qs.exclude(arm="")
        elif arm:
            qs = qs.filter(arm=arm)
        page, per_page = _int(request, "_page", 1), _int(request, "_per_page", 100)
        if per_page > MAX_PER_PAGE:
            raise ValidationError({"_per_page": f"between 1 and {MAX_PER_PAGE} (requested {per_page})"})
        total = qs.count()
        rows = qs[(page - 1) * per_page: page * per_page]
        return Response({"data": [candidate_doc(c) for c in rows], "meta": {"total": total, "page": page,
                                                                            "per_page": per_page}})


def _int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: f"not an integer: {raw!r}"}) from None
    if value < 1:
        raise ValidationError({name: f"must be at least 1 (got {value})"})
    return value


class MaterialConductivity(APIView):
    """A material's Li-ion conductivity from machine-learned MD: every run with its settings, the superionic
    verdict at 1000 K, and an Arrhenius fit where a study ran 3+ temperatures. A potential's MD, not AIMD."""

    @extend_schema(operation_id="material_conductivity", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, material_id: str):
        from materials.models import Material

        from .conductivity import summary

        material = get_object_or_404(Material.objects.only("pk", "material_id", "structure"), material_id=material_id)
        return Response({"data": summary(material), "meta": {"api_version": "1"}})
