"""The search page (/explorer/): the search box, the periodic table and the filters; the URL holds the whole
search (``frontend.search``), and the results come from the REST API's own search (``materials.services``)."""

from __future__ import annotations

import logging

from dash import ALL, Input, Output, State, ctx, dash_table, dcc, html, no_update

from materials import services as catalogue

from .. import search
from ..components import fmt, notice
from ..links import material_href

__all__ = ["COLUMNS", "PERIODIC_TABLE", "SORTABLE", "register", "run_search", "search_page"]

log = logging.getLogger(__name__)

# periodic table: (symbol, row, column); lanthanides and actinides on rows 8 and 9
_ROWS = [
    "H,,,,,,,,,,,,,,,,,He", "Li,Be,,,,,,,,,,,B,C,N,O,F,Ne", "Na,Mg,,,,,,,,,,,Al,Si,P,S,Cl,Ar",
    "K,Ca,Sc,Ti,V,Cr,Mn,Fe,Co,Ni,Cu,Zn,Ga,Ge,As,Se,Br,Kr", "Rb,Sr,Y,Zr,Nb,Mo,Tc,Ru,Rh,Pd,Ag,Cd,In,Sn,Sb,Te,I,Xe",
    "Cs,Ba,La,Hf,Ta,W,Re,Os,Ir,Pt,Au,Hg,Tl,Pb,Bi,Po,At,Rn", "Fr,Ra,Ac,Rf,Db,Sg,Bh,Hs,Mt,Ds,Rg,Cn,Nh,Fl,Mc,Lv,Ts,Og",
    ",,,Ce,Pr,Nd,Pm,Sm,Eu,Gd,Tb,Dy,Ho,Er,Tm,Yb,Lu,", ",,,Th,Pa,U,Np,Pu,Am,Cm,Bk,Cf,Es,Fm,Md,No,Lr,",
]
PERIODIC_TABLE = [(el, r + 1, c + 1) for r, line in enumerate(_ROWS) for c, el in enumerate(line.split(",")) if el]
COLUMNS = [
    ("material_id", "Material"), ("formula_pretty", "Formula"), ("spacegroup_symbol", "Space group"),
    ("crystal_system", "Crystal system"), ("nsites", "Sites"), ("formation_energy_per_atom", "E form (eV/atom)"),
    ("energy_above_hull", "E above hull (meV/atom)"), ("dimensionality", "Dimensionality"), ("source", "Source"),
    ("license", "Licence"),
]
SORTABLE = {"material_id", "formula_pretty", "nsites", "formation_energy_per_atom", "energy_above_hull"}


def _field(label: str, control, help_text: str = ""):
    return html.Div(className="field", children=[
        html.Label(label, className="label is-small"), html.Div(control, className="control"),
        html.P(help_text, className="help") if help_text else None])


def _periodic_table(picked: list[str]):
    cells = [html.Button(el, id={"type": "element", "symbol": el}, n_clicks=0, title=el,
                         className="button is-small " + ("is-link" if el in picked else "is-white"),
                         style={"gridRow": row, "gridColumn": col, "padding": "0", "height": "1.9em", "minWidth": "0"})
             for el, row, col in PERIODIC_TABLE]
    return html.Div(cells, id="periodic-table", style={
        "display": "grid", "gridTemplateColumns": "repeat(18, minmax(1.6em, 1fr))", "gap": "2px", "maxWidth": "760px"})


def search_page(values: dict):
    number = {"type": "number", "debounce": True, "className": "input is-small"}
    controls = html.Div(className="columns is-multiline", children=[
        html.Div(className="column is-12", children=[
            html.Div(className="field has-addons", children=[
                html.Div(className="control is-expanded", children=dcc.Input(
                    id="q", value=values["q"], type="text", debounce=True, className="input",
                    placeholder="Formula (LiFePO4, ABC3, Si*O3), chemical system (Li-P-S, Li-*-O) or elements (Li,O)")),
                html.Div(className="control", children=html.Button("Search", id="go", className="button is-link")),
            ]),
        ]),
        html.Div(className="column is-12", children=[
            html.Details(open=bool(values["elements"]), children=[
                html.Summary("Periodic table: materials containing all the elements you pick"),
                _periodic_table(values["elements"]),
                html.Button("Clear elements", id="clear-elements", className="button is-small is-text"),
            ]),
            dcc.Store(id="picked", data=values["elements"]),
        ]),
        html.Div(className="column is-2", children=_field("Hull", dcc.RadioItems(
            id="hull", value=values["hull"], options=[{"label": " all phases", "value": "all"},
                                                      {"label": " Materials Project", "value": "mp"}]))),
        html.Div(className="column is-2", children=[
            _field("Stability", dcc.Checklist(id="stable", options=[{"label": " stable only", "value": "1"}],
                                              value=["1"] if values["stable"] else [])),
            _field("Max E above hull (meV/atom)", dcc.Input(id="ehull", value=values["ehull"], min=0, **number)),
        ]),
        html.Div(className="column is-2", children=[
            _field("Formation energy (eV/atom)", html.Div([
                dcc.Input(id="eform_min", value=values["eform_min"], placeholder="min", **number),
                dcc.Input(id="eform_max", value=values["eform_max"], placeholder="max", **number)])),
        ]),
        html.Div(className="column is-2", children=[
            _field("Number of elements", html.Div([
                dcc.Input(id="nel_min", value=values["nel_min"], placeholder="min", min=1, step=1, **number),
                dcc.Input(id="nel_max", value=values["nel_max"], placeholder="max", min=1, step=1, **number)])),
            _field("Band gap min (eV)", dcc.Input(id="gap_min", value=values["gap_min"], min=0, **number)),
        ]),
        html.Div(className="column is-2", children=[
            _field("Crystal system", dcc.Dropdown(id="crystal_system", multi=True, value=values["crystal_system"],
                                                  options=[{"label": c, "value": c} for c in catalogue.CRYSTAL_SYSTEMS])),
            _field("Space group", dcc.Input(id="spacegroup", value=values["spacegroup"], type="text", debounce=True,
                                            placeholder="225 or Fm-3m", className="input is-small")),
        ]),
        html.Div(className="column is-2", children=[
            _field("Source", dcc.Checklist(id="source", value=values["source"],
                                           options=[{"label": f" {label}", "value": v} for v, label in catalogue.SOURCES])),
            _field("Licence", dcc.RadioItems(id="license", value=values["license"], options=[
                {"label": " all", "value": "All"}, {"label": " CC BY", "value": "BY"},
                {"label": " CC BY-NC", "value": "BY-NC"}])),
            _field("Families", dcc.Checklist(id="families", value=[f for f in ("layered", "li_conductor") if values[f]],
                                             options=[{"label": " layered (2D)", "value": "layered"},
                                                      {"label": " Li-ion conductor candidate", "value": "li_conductor"}])),
        ]),
    ])
    table = dash_table.DataTable(
        id="results",
        columns=[{"id": c, "name": n, "presentation": "markdown"} if c == "material_id" else {"id": c, "name": n}
                 for c, n in COLUMNS],
        data=[], page_action="custom", page_current=max(0, values["page"] - 1), page_size=search.PAGE_SIZE,
        sort_action="custom", sort_mode="single", sort_by=_sort_by(values["sort"]),
        style_table={"overflowX": "auto"}, style_cell={"fontFamily": "inherit", "fontSize": "0.9rem", "padding": "4px"},
        markdown_options={"link_target": "_self"},
    )
    return html.Div([
        html.H1("Search the catalogue", className="title is-4"),
        controls,
        dcc.Loading(html.Div([html.Div(id="message"), table]), type="dot", delay_show=300),
    ])


def _sort_by(sort: str) -> list[dict]:
    if not sort:
        return []
    return [{"column_id": sort.lstrip("-"), "direction": "desc" if sort.startswith("-") else "asc"}]


def _values_from_form(q, picked, hull, stable, ehull, eform_min, eform_max, nel_min, nel_max, gap_min, crystal_system,
                      spacegroup, source, license_, families, sort_by, page_current) -> dict:
    sort = ""
    if sort_by:
        column = sort_by[0]["column_id"]
        if column in SORTABLE:
            sort = ("-" if sort_by[0]["direction"] == "desc" else "") + column
    return {
        "q": q or "", "elements": picked or [], "hull": hull or "all", "stable": bool(stable), "ehull": ehull,
        "eform_min": eform_min, "eform_max": eform_max, "nel_min": nel_min, "nel_max": nel_max, "gap_min": gap_min,
        "crystal_system": crystal_system or [], "spacegroup": spacegroup or "", "source": source or [],
        "license": license_ or "All", "layered": "layered" in (families or []),
        "li_conductor": "li_conductor" in (families or []), "sort": sort, "page": (page_current or 0) + 1,
    }


def run_search(values: dict) -> tuple[list[dict], int, str | None, bool]:
    """(rows of the page, total, error message, whether the total is an estimate) for form values, through the
    REST API's search (which counts exactly where that is cheap); a page past the last shows the last."""
    params = search.query_params(values)
    params["_page"] = str(values["page"])
    params["_per_page"] = str(search.PAGE_SIZE)
    params["_fields"] = ",".join(c for c, _ in COLUMNS)
    try:
        found = catalogue.search_materials(params, last_page_past_end=True)
    except catalogue.QueryError as exc:
        field = search.FIELD_OF_PARAM.get(exc.param, exc.param)
        return [], 0, f"{field}: {exc.message}", False
    values["page"] = found.query.page
    rows = []
    for doc in found.documents:
        doc["material_id"] = f"[{doc['material_id']}]({material_href(doc['material_id'])})"
        doc["formation_energy_per_atom"] = fmt(doc["formation_energy_per_atom"])
        doc["energy_above_hull"] = fmt(doc["energy_above_hull"], 1, 1000)
        rows.append(doc)
    return rows, found.total.count, None, found.total.estimate


def register(app) -> None:
    form_inputs = [Input("q", "value"), Input("picked", "data"), Input("hull", "value"), Input("stable", "value"),
                   Input("ehull", "value"), Input("eform_min", "value"), Input("eform_max", "value"),
                   Input("nel_min", "value"), Input("nel_max", "value"), Input("gap_min", "value"),
                   Input("crystal_system", "value"), Input("spacegroup", "value"), Input("source", "value"),
                   Input("license", "value"), Input("families", "value"), Input("results", "sort_by"),
                   Input("results", "page_current")]

    @app.callback(Output("results", "data"), Output("results", "page_count"), Output("results", "page_current"),
                  Output("message", "children"), Output("url", "search"), *form_inputs, Input("go", "n_clicks"),
                  State("url", "search"))
    def update_results(*args):
        values = _values_from_form(*args[:-2])
        previous = search.from_url(args[-1])
        if any(values[k] != previous[k] for k in search.DEFAULTS if k not in ("page", "sort")):
            values["page"] = 1  # a changed filter starts again at the first page
        try:
            rows, total, error, estimate = run_search(values)
        except Exception:  # noqa: BLE001
            log.exception("explorer search failed")
            return [], 0, 0, notice("The search failed on the server; the error was logged.", "danger"), no_update
        url = search.to_url(values)
        if error:
            return [], 0, 0, notice(error, "danger", "search-error"), url
        if total == 0:
            return [], 0, 0, notice("No material matches this search.", "warning", "no-results"), url
        pages = max(1, -(-total // search.PAGE_SIZE))
        start = (values["page"] - 1) * search.PAGE_SIZE
        about = "about " if estimate else ""  # a large total is PostgreSQL's estimate, and says so
        message = html.P(f"{about}{total:,} material{'s' if total != 1 else ''}; showing {start + 1:,}-"
                         f"{start + len(rows):,}.", id="result-count", className="is-size-7")
        return rows, pages, values["page"] - 1, message, url

    @app.callback(Output("picked", "data"), Output({"type": "element", "symbol": ALL}, "className"),
                  Input({"type": "element", "symbol": ALL}, "n_clicks"), Input("clear-elements", "n_clicks"),
                  State("picked", "data"), prevent_initial_call=True)
    def pick(_clicks, _clear, picked):
        picked = list(picked or [])
        trigger = ctx.triggered_id
        if trigger == "clear-elements":
            picked = []
        elif isinstance(trigger, dict):
            symbol = trigger["symbol"]
            picked = [p for p in picked if p != symbol] if symbol in picked else [*picked, symbol]
        classes = ["button is-small " + ("is-link" if el in picked else "is-white") for el, _, _ in PERIODIC_TABLE]
        return picked, classes
