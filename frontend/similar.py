"""The "Similar materials" panel of a material page: the catalogue's crystals whose structure fingerprints are
nearest to this one's (materials.similarity, the service behind /api/v1/materials/{id}/similar/)."""

from __future__ import annotations

import logging

from dash import html

from .app import fmt, material_href

__all__ = ["K", "panel"]

log = logging.getLogger(__name__)
K = 8


def panel(material_id: str) -> list:
    """Title and table (material id linked to its page, formula, fingerprint distance, energy above the 'all'
    hull in meV/atom, source), or a message saying why there is none."""
    from materials.similarity import similar_to_material

    title = html.H4("Similar materials", className="title is-5", id="similar-title", style={"marginTop": "1rem"})
    try:
        rows = similar_to_material(material_id, k=K)
    except Exception as exc:  # noqa: BLE001 - the rest of the page still shows; the operator finds it in the log
        log.warning("similar materials of %s: %s", material_id, exc)
        return [title, html.Div(f"Similar materials could not be found: {exc}",
                                className="notification is-warning is-light", id="similar-materials")]
    if not rows:
        return [title, html.Div("No similar materials: this entry has no structure to compare (or the catalogue "
                                "holds no other crystal).", className="notification is-info is-light",
                                id="similar-materials")]
    header = html.Thead(html.Tr([html.Th("Material"), html.Th("Formula"),
                                 html.Th("Distance", title="Euclidean distance of the structure fingerprints "
                                                           "(0 = the same; unitless)"),
                                 html.Th("E above hull (meV/atom)"), html.Th("Source")]))
    body = html.Tbody([html.Tr([
        html.Td(html.A(row["material_id"], href=material_href(row["material_id"]))),
        html.Td(row["formula"]),
        html.Td(fmt(row["distance"], 3)),
        html.Td(fmt(row["e_above_hull_ev_per_atom"], 1, 1000.0)),
        html.Td(row["source"]),
    ]) for row in rows])
    note = html.P("Nearest by structure fingerprint (radial distribution, ordering, stoichiometry and chemistry; "
                  "scale-invariant): same structure type first, chemically closest among them.",
                  className="is-size-7 has-text-grey")
    return [title, html.Table([header, body], className="table is-narrow is-fullwidth is-striped",
                              id="similar-materials"), note]
