"""Refuse requests no view should see: NUL characters in the path or the query (PostgreSQL cannot store or
compare text holding them, so a search for one would fail deep in the database), and query strings that are
not UTF-8 (Django would silently replace their bytes)."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from .errors import _json

MAX_QUERY_STRING = 16_384


class RequestChecks:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        problem, parameter = self.problem(request)
        if problem:
            return _json(400, "Bad Request", problem, parameter)
        return self.get_response(request)

    @staticmethod
    def problem(request) -> tuple[str, str | None]:
        raw = request.META.get("QUERY_STRING", "")
        if len(raw) > MAX_QUERY_STRING:
            return f"query string of {len(raw)} characters; at most {MAX_QUERY_STRING}", None
        if "\x00" in request.path:
            return "the path holds a NUL character", None
        try:
            unquote_to_bytes(raw.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError:
            return "the query string is not UTF-8 after percent-decoding", None
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                clean = name.replace("\x00", "")
                return f"parameter {clean!r} holds a NUL character", clean
        return "", None
