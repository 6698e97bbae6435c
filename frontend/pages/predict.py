"""The Predict page (/explorer/predict): paste or upload a crystal, see it in 3D beside what the portal says about it
(the GNN ensemble's predicted formation energy, its place on both hulls, whether the catalogue holds it, the nearest
known structures), and download it back as CIF.

It calls the service functions the REST endpoint calls (``parse_input`` and ``predict_structure``, through
``discovery.services``): the same answer, no queries of its own. The predicted energy is the model's, and the page
says so wherever it shows it.
"""

from __future__ import annotations

import base64
import binascii
import logging

from dash import Input, Output, State, dcc, html, no_update

from discovery import services as discovery

from ..components import completeness_text, fmt, notice, table
from ..links import material_href

log = logging.getLogger(__name__)

__all__ = ["answer_view", "predict_page", "register", "run", "viewer"]

FORMAT_OPTIONS = [{"label": "detect", "value": ""}, {"label": "CIF", "value": "cif"},
                  {"label": "POSCAR", "value": "poscar"}, {"label": "extended XYZ", "value": "extxyz"},
                  {"label": "pymatgen JSON", "value": "json"}]
EXTENSIONS = {"cif": "cif", "vasp": "poscar", "poscar": "poscar", "contcar": "poscar", "extxyz": "extxyz",
              "xyz": "extxyz", "json": "json"}
HULL_NAMES = {"all": "all phases", "mp": "Materials Project"}

_viewer = None  # the page's StructureMoleculeComponent, made before the app (Crystal Toolkit registers it then)


def viewer():
    """The page's own 3D viewer; call before the Dash app is created."""
    global _viewer
    from crystal_toolkit.components.structure import StructureMoleculeComponent

    _viewer = StructureMoleculeComponent(id="predict-structure", show_compass=True, color_scheme="VESTA",
                                         bonding_strategy="CrystalNN", unit_cell_choice="input")
    return _viewer


def predict_page():
    """The page's layout: the form on top, the viewer and the answer side by side once there is an answer."""
    return html.Div([
        html.H1("Ask about a crystal", className="title is-4"),
        html.P([("Paste or upload a crystal (CIF, POSCAR, extended XYZ or pymatgen JSON; ordered, at most "
                 f"{discovery.MAX_SITES} sites and {discovery.MAX_BYTES // 1024} kB). The GNN ensemble predicts its "
                 "formation energy in about a second, without DFT; the answer says where that puts it on both hulls, "
                 "whether the catalogue already holds it, and which known materials it resembles. The same answer "
                 "comes from "),
                html.Code("POST /api/v1/predict/"), "."], className="is-size-7"),
        html.Div(className="columns", children=[
            html.Div(className="column is-8", children=dcc.Textarea(
                id="predict-text", className="textarea is-family-monospace is-small", style={"height": "11em"},
                placeholder="data_LiMnO2\n_cell_length_a 2.8\n...")),
            html.Div(className="column is-4", children=[
                dcc.Upload(id="predict-upload", className="box has-text-centered is-size-7",
                           max_size=discovery.MAX_BYTES, children=html.Div(["Drop a file here or ", html.A("choose one")])),
                html.Div(className="field", children=[html.Label("Format", className="label is-small"),
                                                      dcc.Dropdown(id="predict-format", options=FORMAT_OPTIONS,
                                                                   value="", clearable=False)]),
                html.Button("Predict", id="predict-go", className="button is-link"),
            ]),
        ]),
        dcc.Loading(html.Div(id="predict-message"), type="dot", delay_show=200),
        dcc.Store(id="predict-cif"),
        dcc.Download(id="predict-download"),
        html.Div(id="predict-result", style={"display": "none"}, className="columns", children=[
            html.Div(className="column is-5", children=[
                html.H4("Crystal structure", className="title is-5"), _viewer.layout(size="420px"),
                html.Button("Download CIF", id="predict-download-cif",
                            className="button is-small is-link is-outlined", style={"marginTop": "0.5rem"})]),
            html.Div(id="predict-answer", className="column is-7"),
        ]),
    ])


def _link(material_id: str, formula: str = ""):
    return html.A(f"{formula} ({material_id})" if formula else material_id, href=material_href(material_id))


def _hull_row(hull: str, s: dict):
    above = s["e_above_hull_ev_per_atom"]
    where = (f"{-above * 1000:.1f} meV/atom below the hull: would be a new stable phase" if above < -5e-5
             else f"{above * 1000:.1f} meV/atom above the hull" + ("; stable" if s["is_stable"] else ""))
    products = [html.Span([_link(p["material_id"], p["formula"]) if not p["material_id"].startswith("ref:")
                           else p["formula"], f" {p['fraction']:.3f}", "; " if i < len(s["decomposition"]) - 1 else ""])
                for i, p in enumerate(s["decomposition"])]
    return (f"Hull: {HULL_NAMES[hull]}", html.Span([
        html.Strong(where, id=f"predict-ehull-{hull}"), html.Br(), "decomposition: ", *products,
        html.Br(), html.Span(completeness_text(s["hull_completeness"]), className="is-size-7")]))


def answer_view(doc: dict):
    """The answer of ``discovery.predicting.predict_structure`` as tables."""
    p, known = doc["prediction"], doc["known"]
    model = p["model"]
    prediction = table([
        ("Formula", f"{doc['input']['formula']} (cell {doc['input']['composition']}, {doc['input']['nsites']} sites)"),
        ("Predicted formation energy (eV/atom)", html.Span([
            html.Strong(fmt(p["e_form_ev_per_atom"], 3), id="predict-eform"),
            (f" ± {fmt(p['iqr_ev_per_atom'], 3)} (interquartile range of {model['members']} members"
             f"{', with test-time augmentation' if p['tta'] else ''})")])),
        ("Predicted by", (f"{model['name']}, {model['version']}: a machine-learned prediction, not a DFT calculation "
                          f"(test error {fmt(model['dft_test_mae_ev_per_atom'], 3)} eV/atom on held-out crystals)")),
        *[_hull_row(hull, doc["stability"][hull]) for hull in ("all", "mp")],
    ], "predict-table")
    matches = ([html.Span([_link(m["material_id"], m["formula"]), " "]) for m in known["matches"]]
               if known["is_known"] else f"not in the catalogue ({known['compared']} crystals of this formula compared)")
    similar = html.Table(className="table is-narrow is-fullwidth", id="predict-similar", children=[
        html.Thead(html.Tr([html.Th("Material"), html.Th("Fingerprint distance"),
                            html.Th("E above hull (meV/atom)"), html.Th("Source")])),
        html.Tbody([html.Tr([html.Td(_link(s["material_id"], s["formula"])), html.Td(fmt(s["distance"], 4)),
                             html.Td(fmt(s["e_above_hull_ev_per_atom"], 1, 1000)), html.Td(s["source"])])
                    for s in doc["similar"]])])
    return html.Div([
        html.H4("Prediction (GNN ensemble: machine-learned, not DFT)", className="title is-5"), prediction,
        html.H4("Already known?", className="title is-5"), html.P(matches, id="predict-known"),
        html.H4("Similar known materials", className="title is-5"), similar,
    ])


def run(text: str | None, fmt_: str | None):
    """(message, answer, structure, CIF text) for the form's text: the endpoint's service functions."""
    try:
        parsed = discovery.parse_input(text, fmt_ or None)
        doc = discovery.predict_structure(parsed)
    except discovery.InputRejected as exc:
        return notice(f"{exc.field}: {exc.message}", "danger", "predict-error"), None, None, None
    return html.Span(), answer_view(doc), parsed.structure, parsed.structure.to(fmt="cif")


def register(app, structure) -> None:
    @app.callback(Output("predict-text", "value"), Output("predict-format", "value"),
                  Input("predict-upload", "contents"), State("predict-upload", "filename"), prevent_initial_call=True)
    def upload(contents, filename):
        if not contents:
            return no_update, no_update
        try:
            text = base64.b64decode(contents.split(",", 1)[1]).decode("utf-8")
        except (IndexError, binascii.Error, UnicodeDecodeError):
            return f"# {filename}: not a UTF-8 text file", ""
        name = (filename or "").lower()
        extension = name.rsplit(".", 1)[-1] if "." in name else name
        return text, EXTENSIONS.get(extension, "")

    @app.callback(Output("predict-message", "children"), Output("predict-answer", "children"),
                  Output("predict-result", "style"), Output(structure.id(), "data"), Output("predict-cif", "data"),
                  Input("predict-go", "n_clicks"), State("predict-text", "value"), State("predict-format", "value"),
                  prevent_initial_call=True)
    def predict(_clicks, text, fmt_):
        try:
            message, answer, crystal, cif = run(text, fmt_)
        except Exception:
            log.exception("predict page failed")
            return (notice("The prediction failed on the server; the error was logged.", "danger", "predict-error"),
                    None, {"display": "none"}, no_update, None)
        if answer is None:
            return message, None, {"display": "none"}, no_update, None
        return message, answer, {"display": "flex"}, crystal, cif

    @app.callback(Output("predict-download", "data"), Input("predict-download-cif", "n_clicks"),
                  State("predict-cif", "data"), prevent_initial_call=True)
    def download(_clicks, cif):
        return no_update if not cif else dcc.send_string(cif, "predicted.cif")
