"""A database that cannot be reached answers 503 Service Unavailable with Retry-After, not a 500 page.

While PostgreSQL restarts (or is failed over, or refuses connections) every view that queries it raises
``OperationalError`` or ``InterfaceError``. That is an outage of a dependency, not a bug of the request: clients
and load balancers should retry, and the error log should not fill with tracebacks. The API prefixes get JSON
in the shape of the other API errors (gnome_site.errors), the rest plain text. The connection itself recovers
without a restart of the app: CONN_HEALTH_CHECKS (settings) replaces a broken persistent connection at the
next request.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from .errors import _json

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
JSON_PREFIXES = ("/api/", "/optimade/", "/healthz")


class DatabaseUnavailable:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        from psycopg.errors import QueryCanceled

        if isinstance(exception.__cause__, QueryCanceled):
            detail = "the database did not answer in time; try again shortly"
        else:
            detail = "the database is not reachable at the moment; try again shortly"
        logger.warning("503 for %s %s: %s: %s", request.method, request.path, type(exception).__name__,
                       str(exception).strip().splitlines()[0] if str(exception).strip() else "")
        if request.path.startswith(JSON_PREFIXES):
            response = _json(503, "Service Unavailable", detail)
        else:
            response = HttpResponse(f"Service unavailable: {detail}.\n", status=503, content_type="text/plain")
        response["Retry-After"] = str(RETRY_AFTER_S)
        response._has_been_logged = True  # logged above, once, as a warning: Django would log it as an error
        return response
