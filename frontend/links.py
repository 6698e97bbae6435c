"""Where the explorer's pages live: /explorer/ beside Django (gnome_site.wsgi mounts the Dash app there)."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["PREFIX", "campaign_href", "discovery_href", "material_href", "predict_href"]

PREFIX = "/explorer/"


def material_href(material_id: str) -> str:
    return f"{PREFIX}material/{quote(material_id)}"


def discovery_href(round_id: int | None = None) -> str:
    return f"{PREFIX}discovery" if round_id is None else f"{PREFIX}discovery/{round_id}"


def campaign_href(campaign_id: int | None = None) -> str:
    """The campaigns list (/explorer/discovery/campaigns) or one campaign's page."""
    base = f"{PREFIX}discovery/campaigns"
    return base if campaign_id is None else f"{base}/{campaign_id}"


def predict_href() -> str:
    return f"{PREFIX}predict"
