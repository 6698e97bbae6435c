"""The OpenAPI schema and Swagger UI work offline; anonymous clients are throttled with 429."""

from __future__ import annotations

import re

import pytest
from rest_framework.throttling import AnonRateThrottle

pytestmark = pytest.mark.django_db


def test_the_schema_documents_every_search_parameter(client):
    from materials.query import openapi_parameters

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    listed = {p["name"] for p in schema["paths"]["/api/v1/materials/"]["get"]["parameters"]}
    assert {name for name, _, _ in openapi_parameters()} <= listed
    assert {"/api/v1/hull/stability/", "/api/v1/materials/{material_id}/structure"} <= set(schema["paths"])


def test_swagger_ui_loads_its_assets_from_this_server(client):
    page = client.get("/api/docs/").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/") for a in assets), assets  # no CDN
    from django.contrib.staticfiles import finders

    for asset in assets:
        if asset.startswith("/static/"):
            assert finders.find(asset.removeprefix("/static/")), asset  # shipped here, served by whitenoise


def test_anonymous_clients_get_429_with_retry_after(client, monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/min"})
    codes = [client.get("/api/v1/materials/", {"_per_page": 1}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = client.get("/api/v1/materials/")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
