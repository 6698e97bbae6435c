"""``/optimade/``: the unversioned ``versions`` and the v1 API (also under /v1.2 and /v1.2.0)."""

from django.urls import re_path

from . import views

V1 = r"v1(?:\.2(?:\.0)?)?"

urlpatterns = [
    re_path(r"^versions/?$", views.versions, name="optimade-versions"),
    re_path(rf"^{V1}/info/?$", views.Info.as_view(), name="optimade-info"),
    re_path(rf"^{V1}/info/structures/?$", views.StructuresInfo.as_view(), name="optimade-info-structures"),
    re_path(rf"^{V1}/links/?$", views.Links.as_view(), name="optimade-links"),
    re_path(rf"^{V1}/structures/?$", views.Structures.as_view(), name="optimade-structures"),
    re_path(rf"^{V1}/structures/(?P<entry_id>[^/]+)/?$", views.Structure.as_view(), name="optimade-structure"),
    re_path(rf"^{V1}(?:/(?P<rest>.*))?$", views.not_found),
    re_path(r"^(?P<version>v[^/]*)(?:/(?P<rest>.*))?$", views.unsupported_version),
]
