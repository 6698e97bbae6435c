"""``/api/mp/``: the Materials Project API as the mp-api client calls it (``materials.mp_api``)."""

from django.urls import path, re_path

from . import mp_api

app_name = "mp-api"

urlpatterns = [
    path("heartbeat", mp_api.Heartbeat.as_view(), name="heartbeat"),
    path("materials/summary/", mp_api.SummarySearch.as_view(), name="summary"),
    path("materials/core/", mp_api.MaterialsCoreSearch.as_view(), name="core"),
    path("materials/thermo/", mp_api.ThermoSearch.as_view(), name="thermo"),
    # the same without (or with) the trailing slash, kept out of the OpenAPI schema
    re_path(r"^heartbeat/$", mp_api.Heartbeat.as_view(schema=None)),
    re_path(r"^materials/summary$", mp_api.SummarySearch.as_view(schema=None)),
    re_path(r"^materials/core$", mp_api.MaterialsCoreSearch.as_view(schema=None)),
    re_path(r"^materials/thermo$", mp_api.ThermoSearch.as_view(schema=None)),
]
