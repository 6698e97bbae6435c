"""The material page (/explorer/material/<id>): properties, stability on both hulls with the phase diagram, downloads,
Li-ion conductivity from machine-learned MD, and similar materials. One record behind it: the REST API's
(``materials.services.material_document``), so the page and /api/v1/materials/<id>/ say the same thing."""

from __future__ import annotations

import logging

from dash import dcc, html

from discovery import services as discovery
from hullapi import services as hull
from materials import services as catalogue

from ..components import completeness_text, fmt, notice, table
from ..links import material_href

__all__ = ["SIMILAR_K", "conductivity_panel", "material_page", "similar_panel", "viewer"]

log = logging.getLogger(__name__)
SIMILAR_K = 8
HULL_NAMES = {"all": "all phases", "mp": "Materials Project"}


def viewer():
    """The 3D viewer the page shows its crystal in (Crystal Toolkit registers it with the app, so it is made once,
    before the app, and lives outside the page)."""
    from crystal_toolkit.components.structure import StructureMoleculeComponent

    return StructureMoleculeComponent(id="structure", show_compass=True, color_scheme="VESTA",
                                      bonding_strategy="CrystalNN", unit_cell_choice="input")


def _stability_text(s: dict, nelements: int) -> str:
    above = s["energy_above_hull"]
    if above is None:
        text = s["note"] or "not placed"
    elif above < -5e-5:
        text = f"{-above * 1000:.1f} meV/atom below the hull of these phases: a new stable phase"
    else:
        parts = ", ".join(f"{pid} ({frac:.2f})" for pid, frac in s["decomposes_to"]) or "itself"
        text = f"{above * 1000:.1f} meV/atom above the hull; {'stable' if s['is_stable'] else 'decomposes to ' + parts}"
    if above is not None and nelements >= 2:
        text += "; " + completeness_text(s["hull_completeness"])
    return text


def material_page(material_id: str):
    """(page content, structure or None)."""
    from pymatgen.core import Structure

    doc = catalogue.material_document(material_id)
    if doc is None:
        return notice(f"No material {material_id!r} in the catalogue.", "warning", "not-found"), None
    licence = ("CC BY-NC 4.0 (GNoME, non-commercial)" if doc["license"] == "CC-BY-NC-4.0"
               else catalogue.LICENCES.get(doc["license"], doc["license"]))
    source = dict(catalogue.SOURCES).get(doc["source"], doc["source"])
    properties = table([
        ("Formula", f"{doc['formula_pretty']} (cell {doc['composition']})"), ("Chemical system", doc["chemsys"]),
        ("Space group", f"{doc['spacegroup_symbol']} ({doc['spacegroup_number']})" if doc["spacegroup_number"] else None),
        ("Crystal system", doc["crystal_system"]), ("Sites", doc["nsites"]),
        ("Volume (Å³)", fmt(doc["volume"], 2)), ("Density (g/cm³)", fmt(doc["density"], 3)),
        ("Formation energy (eV/atom)",
         f"{fmt(doc['formation_energy_per_atom'], 4)} ({doc['energy_method'] or 'no method'})"),
        ("Band gap (eV)", fmt(doc["band_gap"], 2) if doc["band_gap"] is not None else "not computed"),
        ("Dimensionality (Cheon, 0.45 Å)", doc["dimensionality"] or "not computed"),
        ("Source", f"{source}, {doc['dataset']}"), ("Licence", licence),
    ])
    stability_rows = [(f"Hull: {HULL_NAMES.get(hull_set, hull_set)}", _stability_text(s, doc["nelements"]))
                      for hull_set, s in sorted(doc["stability"].items())]
    if doc["judged_hull_completeness"]:
        stability_rows.append(("Hull when judged (discovery round)", completeness_text(doc["judged_hull_completeness"])))
    for w in doc["electrochemical_windows"].values():
        if w["reduction_v"] is not None:
            stability_rows.append(("Electrochemical window",
                                   f"{w['reduction_v']:.2f} to {w['oxidation_v']:.2f} V vs Li/Li+"))
    if 2 <= doc["nelements"] <= 4:
        try:
            figure = dcc.Graph(id="phase-diagram", figure=hull.phase_diagram_figure(doc["chemsys"], "all", material_id),
                               config={"displaylogo": False})
        except Exception as exc:  # noqa: BLE001 - shown to the user, logged for the operator
            log.info("no phase diagram for %s: %s", material_id, exc)
            figure = notice(f"No phase diagram for {doc['chemsys']}: {exc}", "warning")
    else:
        figure = notice("Phase diagrams are drawn for 2 to 4 elements.", "info")
    api = f"/api/v1/materials/{material_id}/structure"
    downloads = html.Div(className="buttons", children=[
        html.A(f"Download {label}", href=f"{api}?fmt={fmt_}", className="button is-small is-link is-outlined",
               id=f"download-{fmt_}") for fmt_, label in (("cif", "CIF"), ("cif_symmetrized", "symmetrized CIF"),
                                                          ("poscar", "POSCAR"), ("json", "JSON"))
    ]) if doc["structure"] is not None else notice(
        "Energy-only Materials Project hull phase: the snapshot has no structure, so there is nothing to view or "
        "download.", "warning", "no-structure")
    content = html.Div([
        html.H1([doc["formula_pretty"], html.Span(f"  {material_id}", className="has-text-grey is-size-5")],
                className="title is-3", id="material-title"),
        html.Span(licence, className="tag is-warning" if doc["license"] == "CC-BY-NC-4.0" else "tag is-info"),
        html.Div(className="columns", style={"marginTop": "1rem"}, children=[
            html.Div(className="column is-5", children=[html.H4("Properties", className="title is-5"), properties,
                                                        downloads]),
            html.Div(className="column is-7", children=[html.H4("Stability", className="title is-5"),
                                                        table(stability_rows), figure]),
        ]),
        *conductivity_panel(material_id), *similar_panel(material_id),
    ])
    return content, None if doc["structure"] is None else Structure.from_dict(doc["structure"])


def conductivity_panel(material_id: str) -> list:
    """Li-ion conductivity from machine-learned MD (``discovery.services.conductivity_summary``), when a study has
    run it: the numbers with their settings, the verdict, the Arrhenius fit, and the mean squared displacement."""
    found = discovery.conductivity_summary(material_id)
    if not found or not found["runs"]:
        return []
    import plotly.graph_objects as go

    rows, figure = [], go.Figure()
    for run in found["runs"]:
        label = f"{run['temperature_k']:.0f} K (study #{run['study']})"
        if "conductivity_ms_cm" not in run:
            rows.append((label, f"{run['status']}: step {run['step']:,} of {run['total_steps']:,}"
                         + (f" ({run['error']})" if run["error"] else "")))
            continue
        s = run["settings"]
        rows.append((label, f"D(Li) {run['diffusivity_cm2_s']:.2e} ± {run['diffusivity_std_cm2_s']:.1e} cm²/s; "
                     f"σ {run['conductivity_ms_cm']:.3g} ± {run['conductivity_std_ms_cm']:.2g} mS/cm"))
        rows.append(("  how", f"{run['method']}; {run['atoms']} atoms, {s['timestep_fs']:g} fs steps, ramp "
                     f"{s['ramp_ps']:g} ps from {s['start_temperature_k']:.0f} K, {s['equilibration_ps']:g} ps "
                     f"discarded, {run['time_ps']:.1f} ps analysed (the paper: 50 ps); pymatgen DiffusionAnalyzer, "
                     "smoothed=max, Nernst-Einstein"))
        figure.add_trace(go.Scatter(x=run["msd_time_ps"], y=run["msd_a2"], mode="lines", name=label))
    verdict = found["verdict"]
    if verdict is not None:
        threshold = found["superionic_threshold"]["log10_ms_cm"]
        rows.append(("Superionic at 1000 K", f"{'yes' if verdict['superionic'] else 'no'}: σ "
                     f"{verdict['conductivity_1000k_ms_cm']:.3g} mS/cm against 10^{threshold} = {10 ** threshold:.1f} "
                     "mS/cm (GNoME's threshold)"))
    for fit in found["arrhenius"]:
        if "error" in fit:
            rows.append((f"Arrhenius (study #{fit['study']})", fit["error"]))
        else:
            rows.append((f"Arrhenius (study #{fit['study']})", f"Ea {fit['activation_energy_ev']:.3f} eV; σ(300 K) "
                         f"{fit['conductivity_300k_ms_cm']:.3g} mS/cm, extrapolated from "
                         f"{', '.join(f'{t:.0f}' for t in fit['temperatures_k'])} K"))
    figure.update_layout(height=320, margin={"l": 50, "r": 10, "t": 10, "b": 40}, xaxis_title="time (ps)",
                         yaxis_title="Li mean squared displacement (Å²)", legend={"orientation": "h"})
    return [html.H4("Li-ion conductivity (machine-learned MD, not AIMD)", className="title is-5",
                    id="conductivity-title", style={"marginTop": "1rem"}),
            html.Div(className="columns", children=[
                html.Div(className="column is-6", children=table(rows)),
                html.Div(className="column is-6", children=dcc.Graph(id="msd-plot", figure=figure,
                                                                     config={"displaylogo": False})),
            ])]


def similar_panel(material_id: str) -> list:
    """Title and table (material id linked to its page, formula, fingerprint distance, energy above the 'all'
    hull in meV/atom, source), or a message saying why there is none."""
    title = html.H4("Similar materials", className="title is-5", id="similar-title", style={"marginTop": "1rem"})
    try:
        rows = catalogue.similar_materials(material_id, k=SIMILAR_K)
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
