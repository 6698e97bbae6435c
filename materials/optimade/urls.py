"""``/optimade/``: the unversioned ``versions`` and the v1 API (also under /v1.2 and /v1.2.0, and with a
trailing slash; those aliases stay out of the OpenAPI schema)."""

from django.urls import path, re_path

from . import views

ENDPOINTS = [
    ("info", r"info", views.Info, "optimade-info"),
    ("info/structures", r"info/structures", views.StructuresInfo, "optimade-info-structures"),
    ("links", r"links", views.Links, "optimade-links"),
    ("structures", r"structures", views.Structures, "optimade-structures"),
    ("structures/<str:entry_id>", r"structures/(?P<entry_id>[^/]+)", views.Structure, "optimade-structure"),
]

urlpatterns = [path("versions", views.versions, name="optimade-versions")]
urlpatterns += [path(f"v1/{route}", view.as_view(), name=name) for route, _, view, name in ENDPOINTS]
urlpatterns += [re_path(rf"^v1(?:\.2(?:\.0)?)?/{regex}/?$", view.as_view(schema=None)) for _, regex, view, _ in ENDPOINTS]
urlpatterns += [
    re_path(r"^versions/$", views.versions),
    re_path(r"^v1(?:\.2(?:\.0)?)?(?:/(?P<rest>.*))?$", views.not_found),
    re_path(r"^(?P<version>v[^/]*)(?:/(?P<rest>.*))?$", views.unsupported_version),
]
