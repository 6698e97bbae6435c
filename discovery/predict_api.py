"""REST API of predictions: ask about any crystal (anyone, throttled, writes nothing), and relax one with the default
evaluator as a background job (staff). Thin views over ``discovery.predicting``.

    POST /api/v1/predict/                 {"structure": text, "format": "cif"|"poscar"|"extxyz"|"json"}
    POST /api/v1/predict/relax/           the same body; staff only; 202 with the job
    GET  /api/v1/predict/relax/<id>/      poll a job (staff only)
"""

from __future__ import annotations

import time

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from materials import permissions

from . import api_schemas, predicting
from .models import RelaxJob
from .structure_input import InputRejected


class StaffOnly(permissions.StaffOnly):
    message = "relaxing a crystal needs a staff account"


class TooLarge(APIException):
    status_code = 413
    default_detail = "request too large"


def _reject(exc: InputRejected):
    if exc.status == 413:
        raise TooLarge({exc.field: exc.message}) from None
    raise ValidationError({exc.field: exc.message}) from None


def _parsed(request) -> predicting.ParsedInput:
    body = request.data
    if not isinstance(body, dict):
        raise ValidationError({"body": "send a JSON object: {\"structure\": text, \"format\": \"cif\"}"})
    unknown = sorted(set(body) - {"structure", "format"})
    if unknown:
        raise ValidationError({unknown[0]: f"unknown field(s) {', '.join(repr(u[:40]) for u in unknown[:5])}; "
                                           "send 'structure' and, optionally, 'format'"})
    try:
        return predicting.parse_input(body.get("structure"), body.get("format"))
    except InputRejected as exc:
        _reject(exc)


class Predict(APIView):
    """The screening ensemble's predicted formation energy of a crystal (a machine-learned prediction, not DFT),
    its place on both hulls, whether the catalogue holds it, and the nearest known structures. Open to anonymous
    users, throttled (scope ``predict``); it writes nothing."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "predict"

    @extend_schema(operation_id="predict", request=api_schemas.PredictRequest,
                   responses={200: api_schemas.PredictAnswer})
    def post(self, request):
        started = time.perf_counter()
        parsed = _parsed(request)
        try:
            doc = predicting.predict_structure(parsed)
        except InputRejected as exc:
            _reject(exc)
        return Response({"data": doc, "meta": {"api_version": "1",
                                               "seconds": round(time.perf_counter() - started, 4)}})


class RelaxJobs(APIView):
    """Staff: relax a crystal with the default evaluator (CHGNet) in the background; poll the job's URL."""

    permission_classes = [StaffOnly]

    @extend_schema(operation_id="predict_relax_create", request=api_schemas.PredictRequest,
                   responses={202: api_schemas.PredictRelaxJobAnswer})
    def post(self, request):
        from .tasks import relax_uploaded

        parsed = _parsed(request)
        try:
            with transaction.atomic():
                job = predicting.create_relax_job(parsed, request.user)
        except InputRejected as exc:
            _reject(exc)
        transaction.on_commit(lambda: relax_uploaded.delay(job.pk))
        job.refresh_from_db()  # run already where tasks run eagerly (the embedded default)
        return Response({"data": predicting.relax_job_doc(job)}, status=202)


class RelaxJobDetail(APIView):
    """Staff: one relaxation job, with the relaxed energy and its hull placement once it has run."""

    permission_classes = [StaffOnly]

    @extend_schema(operation_id="predict_relax_retrieve", responses={200: api_schemas.PredictRelaxJobAnswer})
    def get(self, request, pk: int):
        return Response({"data": predicting.relax_job_doc(get_object_or_404(RelaxJob, pk=pk))})
