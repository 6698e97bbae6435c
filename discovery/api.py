"""REST API of the discovery rounds: read-only for the public; starting a round needs a staff user.

Energies of candidates are the GNN ensemble's predictions and the evaluator's (a machine-learned potential by
default): each is labelled with the method that made it, none is DFT.
"""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from materials.permissions import ReadOnlyOrStaff as BaseReadOnlyOrStaff

from . import rounds
from .models import Candidate, DiscoveryRound
from .services import (
    campaign_document,
    campaign_documents,
    candidate_doc,
    conductivity_summary,
    round_doc,
    round_document,
    round_documents,
)

MAX_PER_PAGE = 500


class ReadOnlyOrStaff(BaseReadOnlyOrStaff):
    message = "starting a discovery round needs a staff account"


class RoundList(APIView):
    """GET: every round with its stage, counts, hit rate, prevalence and DAF. POST (staff): start a round with
    a configuration (fields of ``discovery.rounds.DEFAULTS``)."""

    permission_classes = [ReadOnlyOrStaff]

    @extend_schema(operation_id="discovery_rounds_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"data": round_documents()})

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
        doc = round_document(pk)
        if doc is None:
            raise Http404("No DiscoveryRound matches the given query.")
        return Response({"data": doc})


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


class CampaignStaffOnly(BaseReadOnlyOrStaff):
    message = "starting or steering a campaign needs a staff account"


class CampaignList(APIView):
    """GET: every campaign with its rounds (hit rate, prevalence, DAF with 95 % intervals, screening MAE, new
    stable materials, the fine-tune after each) and its scaling points. POST (staff): start a campaign with a
    configuration (fields of ``discovery.campaigns.DEFAULTS``, the round's settings under ``round``)."""

    permission_classes = [CampaignStaffOnly]

    @extend_schema(operation_id="discovery_campaigns_list", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response({"data": campaign_documents()})

    @extend_schema(operation_id="discovery_campaigns_create", request=OpenApiTypes.OBJECT,
                   responses={202: OpenApiTypes.OBJECT})
    def post(self, request):
        from . import campaigns
        from .tasks import advance_campaign

        if not isinstance(request.data, dict):
            raise ValidationError({"config": "send a JSON object of campaign settings"})
        data = dict(request.data)
        name = str(data.pop("name", ""))[:100]
        try:
            campaign = campaigns.create_campaign(data, name=name, user=request.user.get_username())
        except campaigns.CampaignError as exc:
            raise ValidationError({"config": str(exc)}) from None
        transaction.on_commit(lambda: advance_campaign.delay(campaign.pk))
        return Response({"data": campaign_document(campaign.pk)}, status=202)


class CampaignDetail(APIView):
    """GET: one campaign. POST (staff) ``{"action": "pause" | "resume" | "cancel"}``: pausing lets the running
    round finish and starts no other; resuming goes on where it stopped (a failed round is retried)."""

    permission_classes = [CampaignStaffOnly]

    @extend_schema(operation_id="discovery_campaign_retrieve", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: int):
        doc = campaign_document(pk)
        if doc is None:
            raise Http404("No Campaign matches the given query.")
        return Response({"data": doc})

    @extend_schema(operation_id="discovery_campaign_action", request=OpenApiTypes.OBJECT,
                   responses={202: OpenApiTypes.OBJECT})
    def post(self, request, pk: int):
        from . import campaigns
        from .models import Campaign
        from .tasks import advance_campaign

        campaign = get_object_or_404(Campaign, pk=pk)
        action = request.data.get("action") if isinstance(request.data, dict) else None
        steps = {"pause": campaigns.pause, "resume": campaigns.resume, "cancel": campaigns.cancel}
        if action not in steps:
            raise ValidationError({"action": f"one of pause, resume, cancel (got {str(action)[:40]!r})"})
        if not steps[action](pk):
            raise ValidationError({"action": f"cannot {action} campaign {pk}: it is {campaign.status}"})
        if action == "resume":
            transaction.on_commit(lambda: advance_campaign.delay(pk))
        return Response({"data": campaign_document(pk)}, status=202)


class MaterialConductivity(APIView):
    """A material's Li-ion conductivity from machine-learned MD: every run with its settings, the superionic
    verdict at 1000 K, and an Arrhenius fit where a study ran 3+ temperatures. A potential's MD, not AIMD."""

    @extend_schema(operation_id="material_conductivity", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, material_id: str):
        found = conductivity_summary(material_id)
        if found is None:
            raise Http404("No Material matches the given query.")
        return Response({"data": found, "meta": {"api_version": "1"}})
