"""The explorer: a Dash + Crystal Toolkit app mounted beside Django at /explorer/ (gnome_site.wsgi).

This module builds the shell (navigation, the 3D viewer panel, the footer) and the app; the pages, each with its
layout and callbacks, are ``frontend.pages`` (search, material, screens, discovery, predict), registered from
``frontend.pages.register``. Imports go one way: app -> pages -> the apps' service functions.
"""

from __future__ import annotations

from .links import PREFIX

__all__ = ["create_app"]


def _patch_pymatgen() -> None:
    """Crystal Toolkit calls StructureGraph.with_local_env_strategy / with_empty_graph, which newer pymatgen
    renamed from_local_env_strategy / from_empty_graph: alias them where they are missing."""
    from pymatgen.analysis.graphs import MoleculeGraph, StructureGraph

    for cls in (StructureGraph, MoleculeGraph):
        if not hasattr(cls, "with_local_env_strategy"):
            cls.with_local_env_strategy = classmethod(
                lambda k, *a, **kw: k.from_local_env_strategy(*a, **{x: y for x, y in kw.items() if x != "reorder"}))
        if not hasattr(cls, "with_empty_graph"):
            cls.with_empty_graph = classmethod(lambda k, *a, **kw: k.from_empty_graph(*a, **kw))


def _cache():
    from django.conf import settings
    from flask_caching import Cache

    if settings.REDIS_URL:
        return Cache(config={"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": settings.REDIS_URL,
                             "CACHE_KEY_PREFIX": "explorer:", "CACHE_DEFAULT_TIMEOUT": 3600})
    return Cache(config={"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600})


def create_app():
    """The Dash app (its Flask server is what gnome_site.wsgi mounts at /explorer)."""
    import dash
    from crystal_toolkit import CrystalToolkitPlugin
    from dash import dcc, html

    from . import pages

    _patch_pymatgen()
    viewers = pages.viewers()
    structure = viewers["material"]
    layout = html.Div([
        dcc.Location(id="url", refresh="callback-nav"),
        html.Nav(className="navbar is-dark", children=[
            html.Div(className="navbar-brand", children=[
                html.A("GNoME Explorer", href=PREFIX, className="navbar-item has-text-weight-bold")]),
            html.Div(className="navbar-menu is-active", children=[html.Div(className="navbar-start", children=[
                html.A("Search", href=PREFIX, className="navbar-item"),
                html.A("Screens", href=f"{PREFIX}screens", className="navbar-item"),
                html.A("Discovery", href=f"{PREFIX}discovery", className="navbar-item"),
                html.A("Predict", href=f"{PREFIX}predict", className="navbar-item"),
                html.A("API", href="/api/docs/", className="navbar-item"),
                html.A("OPTIMADE", href="/optimade/v1/info", className="navbar-item"),
            ])]),
        ]),
        html.Section(className="section", style={"paddingTop": "1.5rem"}, children=[
            html.Div(id="page", className="container is-fluid"),
            # the 3D viewer lives outside the pages (Crystal Toolkit registers it once); the material page shows it
            html.Div(id="structure-panel", className="container is-fluid", style={"display": "none"},
                     children=[html.H4("Crystal structure", className="title is-5"), structure.layout(size="500px")]),
        ]),
        html.Footer(className="footer", children=html.P(
            "GNoME data: CC BY-NC 4.0 (Merchant et al., Nature 2023). Materials Project data: CC BY 4.0. Energies of "
            "GNoME and Materials Project entries are DFT as published; those of discovery materials come from a "
            "machine-learned potential (named on each), and a model's predictions are marked as such.",
            className="has-text-centered is-size-7")),
    ])
    app = dash.Dash(
        __name__,
        requests_pathname_prefix=PREFIX,
        routes_pathname_prefix="/",
        serve_locally=True,
        use_async=False,  # Dash turns async on when asgiref (a Django dependency) is installed; the ORM is sync
        title="GNoME Explorer",
        update_title=None,
        external_stylesheets=["/static/bulma/css/style.min.css", "/static/fontawesomefree/css/all.min.css"],
        plugins=[CrystalToolkitPlugin(layout=layout, cache=_cache(), use_default_css=False)],
    )
    pages.register(app, viewers)

    @app.server.teardown_request
    def _close_connections(_exc):  # what Django does at the end of each of its own requests
        from django.db import close_old_connections

        close_old_connections()

    return app
