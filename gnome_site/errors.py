"""Error pages: JSON under the programmatic prefixes (/api/, /optimade/), Django's plain pages elsewhere.

DRF views already answer their own errors in JSON; these handlers cover what reaches Django itself: a path
no route matches, a body Django refuses before any view runs (too large, too many fields), a CSRF failure,
and an unhandled exception (a 500, logged with its traceback by Django).
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.views import defaults
from django.views.csrf import csrf_failure as django_csrf_failure

API_PREFIXES = ("/api/", "/optimade/")


def _api(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def _json(status: int, title: str, detail: str, parameter: str | None = None) -> JsonResponse:
    error = {"status": str(status), "title": title, "detail": detail}
    if parameter is not None:
        error["source"] = {"parameter": parameter}
    body = {"detail": detail, "errors": [error]}
    if parameter is not None:
        body[parameter] = detail  # as DRF names a bad parameter
    return JsonResponse(body, status=status)


def bad_request(request, exception=None):
    if _api(request):
        detail = str(exception) if exception else "bad request"
        return _json(400, "Bad Request", detail or "bad request")
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _api(request):
        return _json(403, "Forbidden", str(exception) if exception and str(exception) else "permission denied")
    return defaults.permission_denied(request, exception)


def page_not_found(request, exception=None):
    if _api(request):
        return _json(404, "Not Found", f"no endpoint at {request.path}")
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _api(request):
        return _json(500, "Internal Server Error", "the server failed on this request; it has been logged")
    return defaults.server_error(request)


def csrf_failure(request, reason: str = ""):
    if _api(request):
        return _json(403, "Forbidden", f"CSRF check failed: {reason}")
    return django_csrf_failure(request, reason=reason)


def api_exception_handler(exc, context):
    """DRF's handler, plus the request-body refusals Django raises while a view reads ``request.data``."""
    from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
    from django.http.multipartparser import MultiPartParserError
    from rest_framework.response import Response
    from rest_framework.views import exception_handler

    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": f"request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                                   "outside files"}, status=413)
    if isinstance(exc, TooManyFieldsSent):
        return Response({"detail": f"too many fields: at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}"}, status=400)
    if isinstance(exc, MultiPartParserError):
        return Response({"detail": f"malformed multipart body: {exc}"}, status=400)
    return exception_handler(exc, context)
