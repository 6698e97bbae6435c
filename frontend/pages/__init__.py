"""The explorer's pages, each a module with its layout and its callbacks, registered from here:

- ``search``: /explorer/ (the catalogue search; the URL holds the search)
- ``material``: /explorer/material/<id> (properties, stability, phase diagram, conductivity, similar materials)
- ``screens``: /explorer/screens (families of interest)
- ``discovery``: /explorer/discovery and /explorer/discovery/<round id>
- ``campaigns``: /explorer/discovery/campaigns and /explorer/discovery/campaigns/<campaign id> (active learning)
- ``predict``: /explorer/predict (ask about a pasted crystal)

A page reads data only through the service functions of the apps (``<app>.services``), the same functions the
REST API answers with; nothing here imports a model, a view or ``frontend.app``. To add a page: a module with its
layout function and ``register(app)``, a line in ``page_for`` and one in ``register``.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote

from dash import Input, Output, State, no_update

from .. import search as search_state
from ..components import notice
from ..links import PREFIX
from . import campaigns, discovery, material, predict, screens, search

__all__ = ["page_for", "register", "viewers"]

log = logging.getLogger(__name__)


def viewers() -> dict:
    """The pages' 3D viewers (Crystal Toolkit components), made before the app: Crystal Toolkit registers them
    when the app is created. ``material`` is shown by the shell, outside the pages; ``predict`` sits in its page."""
    return {"material": material.viewer(), "predict": predict.viewer()}


def page_for(pathname: str | None, query_string: str | None):
    """(page content, what the material viewer shows) of a URL path under /explorer/: the material page's
    structure (None when it has none), ``no_update`` on the other pages."""
    path = (pathname or PREFIX)[len(PREFIX) - 1:] if (pathname or "").startswith(PREFIX[:-1]) else pathname
    if path.startswith("/material/"):
        return material.material_page(unquote(path[len("/material/"):]).strip("/"))
    if path.rstrip("/") == "/screens":
        return screens.screens_page(), no_update
    if path.rstrip("/") == "/predict":
        return predict.predict_page(), no_update
    if path.rstrip("/") == "/discovery/campaigns" or path.startswith("/discovery/campaigns/"):  # before round ids
        return campaigns.campaigns_page(unquote(path[len("/discovery/campaigns"):]).strip("/") or None), no_update
    if path.rstrip("/") == "/discovery" or path.startswith("/discovery/"):
        return discovery.discovery_page(unquote(path[len("/discovery"):]).strip("/") or None), no_update
    return search.search_page(search_state.from_url(query_string)), no_update


def register(app, components: dict) -> None:
    """The router (URL -> page) and every page's callbacks; ``components`` as ``viewers()`` made them."""
    structure = components["material"]

    @app.callback(Output("page", "children"), Output("structure-panel", "style"), Output(structure.id(), "data"),
                  Input("url", "pathname"), State("url", "search"))
    def route(pathname, query_string):
        hidden = {"display": "none"}
        try:
            content, crystal = page_for(pathname, query_string)
        except Exception:  # noqa: BLE001 - a page that fails says so instead of going blank
            log.exception("explorer page %s failed", pathname)
            return notice("This page could not be built; the error was logged.", "danger"), hidden, no_update
        shown = crystal is not None and crystal is not no_update
        return content, {"display": "block"} if shown else hidden, crystal

    search.register(app)
    discovery.register(app)
    predict.register(app, components["predict"])
