"""Anonymous reads of the public APIs served from the cache while the data they show is unchanged.

The catalogue changes only through runs: an import (uploads and discovery rounds included), a hull recompute,
a screen run. Every one is a row of its run table, so "the data changed" is "the latest of those rows changed",
which one query tells (``materials.versioned_cache.data_version``, read here at most once a second per process).
A cached answer is keyed by that data version and the full URL, so a finished run makes every earlier answer
unreachable at once, in every worker, and none is served longer than ``GNOME_API_CACHE_SECONDS`` in any case.

Only GET requests of anonymous clients, only 200 JSON answers of the catalogue, hull, screens, mp-api and OPTIMADE
APIs; streamed exports, conductivity (MD studies write outside runs) and discovery rounds (live progress) are
never cached. The anonymous throttle counts hits as it counts every other request.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.http import HttpResponse

from materials import versioned_cache

PREFIXES = ("/api/v1/materials/", "/api/v1/hull/", "/api/v1/screens/", "/api/mp/", "/optimade/")
NEVER = ("/export", "/conductivity/", "/uploads/")
KEPT_HEADERS = ("Content-Type", "Content-Disposition", "X-Licence", "X-Licence-Note")
MAX_BYTES = 1024 * 1024
VERSION_EVERY_S = 1.0

_version: tuple[float, str] = (0.0, "")


def data_version() -> str:
    """Changes whenever an import, a hull recompute or a screen run starts or finishes (materials.versioned_cache),
    read at most once every VERSION_EVERY_S per process."""
    global _version
    now = time.monotonic()
    if now - _version[0] < VERSION_EVERY_S:
        return _version[1]
    _version = (now, versioned_cache.data_version())
    return _version[1]


class AnonymousReadCache:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        seconds = settings.GNOME_API_CACHE_SECONDS
        path = request.path
        if (seconds <= 0 or request.method != "GET" or not path.startswith(PREFIXES) or any(n in path for n in NEVER)
                or request.user.is_authenticated or "HTTP_AUTHORIZATION" in request.META):
            return self.get_response(request)
        try:
            version = data_version()
        except DatabaseError:
            return self.get_response(request)  # the view meets the outage too, and answers it (middleware)
        accept = request.META.get("HTTP_ACCEPT", "")
        key = "gnx:read:" + hashlib.sha256(f"{version} {accept} {request.get_full_path()}".encode()).hexdigest()
        hit = cache.get(key)
        if hit is not None:
            refused = self._throttled(request)
            if refused is not None:
                return refused
            content, headers = hit
            response = HttpResponse(content, status=200)
            for name, value in headers:
                response[name] = value
            response["X-Cache"] = "hit"
            return response
        response = self.get_response(request)
        if (response.status_code == 200 and not response.streaming and len(response.content) <= MAX_BYTES
                and response.get("Content-Type", "").split(";")[0] in ("application/json", "application/vnd.api+json")):
            cache.set(key, (response.content, [(h, response[h]) for h in KEPT_HEADERS if h in response]), seconds)
            response["X-Cache"] = "miss"
        return response

    @staticmethod
    def _throttled(request):
        """The API's anonymous throttle, applied to a hit as the view would have applied it."""
        from django.http import JsonResponse
        from rest_framework.exceptions import Throttled
        from rest_framework.settings import api_settings

        for throttle_class in api_settings.DEFAULT_THROTTLE_CLASSES:
            throttle = throttle_class()
            if not throttle.allow_request(request, None):
                refusal = Throttled(throttle.wait())
                response = JsonResponse({"detail": str(refusal.detail)}, status=refusal.status_code)
                if refusal.wait:
                    response["Retry-After"] = str(int(refusal.wait))
                return response
        return None
