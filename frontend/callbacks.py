"""Pages and callbacks of the explorer. Reads through materials.query (the REST API's query module), the
hull service and the screens; every failure is shown as a message that says what happened."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from dash import ALL, Input, Output, State, ctx, dash_table, dcc, html, no_update

from . import search
from .app import (
    COLUMNS,
    CRYSTAL_SYSTEMS,
    PERIODIC_TABLE,
    PREFIX,
    SORTABLE,
    SOURCES,
    fmt,
    material_href,
)

log = logging.getLogger(__name__)


def _notice(text: str, kind: str = "info", id_: str | None = None):
    props = {"id": id_} if id_ else {}
    return html.Div(text, className=f"notification is-{kind} is-light", **props)


# ---- search page --------------------------------------------------------------------------------

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
                                                  options=[{"label": c, "value": c} for c in CRYSTAL_SYSTEMS])),
            _field("Space group", dcc.Input(id="spacegroup", value=values["spacegroup"], type="text", debounce=True,
                                            placeholder="225 or Fm-3m", className="input is-small")),
        ]),
        html.Div(className="column is-2", children=[
            _field("Source", dcc.Checklist(id="source", value=values["source"],
                                           options=[{"label": f" {label}", "value": v} for v, label in SOURCES])),
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


def run_search(values: dict) -> tuple[list[dict], int, str | None]:
    """(rows of the page, total, error message) for form values, through the REST API's query module."""
    from materials import query as catalogue_query

    params = search.query_params(values)
    params["_page"] = str(values["page"])
    params["_per_page"] = str(search.PAGE_SIZE)
    params["_fields"] = ",".join(c for c, _ in COLUMNS)
    try:
        query = catalogue_query.parse(params)
    except catalogue_query.QueryError as exc:
        field = search.FIELD_OF_PARAM.get(exc.param, exc.param)
        return [], 0, f"{field}: {exc.message}"
    qs = query.queryset()
    total = qs.count()
    last = max(1, -(-total // search.PAGE_SIZE))
    if values["page"] > last:  # a shared URL past the end shows the last page
        values["page"] = query.page = last
    rows = []
    for row in query.page_rows(catalogue_query.value_paths(query.fields), qs):
        doc = catalogue_query.document(row, query.fields)
        doc["material_id"] = f"[{doc['material_id']}]({material_href(doc['material_id'])})"
        doc["formation_energy_per_atom"] = fmt(doc["formation_energy_per_atom"])
        doc["energy_above_hull"] = fmt(doc["energy_above_hull"], 1, 1000)
        rows.append(doc)
    return rows, total, None


# ---- material page ------------------------------------------------------------------------------

def _table(rows: list[tuple[str, object]]):
    return html.Table(className="table is-narrow is-fullwidth", children=html.Tbody([
        html.Tr([html.Th(k), html.Td(v if v not in (None, "") else "—")]) for k, v in rows]))


def material_page(material_id: str):
    """(page content, structure or None)."""
    from hullapi.api import phase_diagram_figure
    from materials import query as catalogue_query
    from materials.models import Material

    material = (Material.objects.prefetch_related("calculations", "stabilities", "windows")
                .filter(material_id=material_id).first())
    if material is None:
        return _notice(f"No material {material_id!r} in the catalogue.", "warning", "not-found"), None
    row = catalogue_query.parse({"material_ids": material_id, "_all_fields": "true"}).queryset().values(
        *catalogue_query.value_paths(tuple(catalogue_query.FIELDS))).get()
    doc = catalogue_query.document(row, tuple(catalogue_query.FIELDS))
    licence = "CC BY-NC 4.0 (GNoME, non-commercial)" if material.licence == "CC-BY-NC-4.0" else material.get_licence_display()
    properties = _table([
        ("Formula", f"{doc['formula_pretty']} (cell {doc['composition']})"), ("Chemical system", doc["chemsys"]),
        ("Space group", f"{doc['spacegroup_symbol']} ({doc['spacegroup_number']})" if doc["spacegroup_number"] else None),
        ("Crystal system", doc["crystal_system"]), ("Sites", doc["nsites"]),
        ("Volume (Å³)", fmt(doc["volume"], 2)), ("Density (g/cm³)", fmt(doc["density"], 3)),
        ("Formation energy (eV/atom)", f"{fmt(doc['formation_energy_per_atom'], 4)} ({doc['energy_method'] or 'no method'})"),
        ("Band gap (eV)", fmt(doc["band_gap"], 2) if doc["band_gap"] is not None else "not computed"),
        ("Dimensionality (Cheon, 0.45 Å)", doc["dimensionality"] or "not computed"),
        ("Source", f"{material.get_source_display()}, {material.dataset}"), ("Licence", licence),
    ])
    stability_rows = []
    for s in sorted(material.stabilities.all(), key=lambda s: s.hull_set):
        if s.e_above_hull_ev_per_atom is None:
            text = s.note or "not placed"
        elif s.e_above_hull_ev_per_atom < -5e-5:
            text = f"{-s.e_above_hull_ev_per_atom * 1000:.1f} meV/atom below the hull of these phases: a new stable phase"
        else:
            parts = ", ".join(f"{pid} ({frac:.2f})" for pid, frac in s.decomposition) or "itself"
            text = (f"{s.e_above_hull_ev_per_atom * 1000:.1f} meV/atom above the hull; "
                    f"{'stable' if s.is_stable else 'decomposes to ' + parts}")
        stability_rows.append((f"Hull: {'all phases' if s.hull_set == 'all' else 'Materials Project'}", text))
    for w in material.windows.all():
        if w.reduction_v is not None:
            stability_rows.append(("Electrochemical window", f"{w.reduction_v:.2f} to {w.oxidation_v:.2f} V vs Li/Li+"))
    figure = None
    if 2 <= material.nelements <= 4:
        try:
            figure = dcc.Graph(id="phase-diagram", figure=phase_diagram_figure(material.chemsys, "all", material_id),
                               config={"displaylogo": False})
        except Exception as exc:  # noqa: BLE001 - shown to the user, logged for the operator
            log.info("no phase diagram for %s: %s", material_id, exc)
            figure = _notice(f"No phase diagram for {material.chemsys}: {exc}", "warning")
    else:
        figure = _notice("Phase diagrams are drawn for 2 to 4 elements.", "info")
    api = f"/api/v1/materials/{material_id}/structure"
    downloads = html.Div(className="buttons", children=[
        html.A(f"Download {label}", href=f"{api}?fmt={fmt_}", className="button is-small is-link is-outlined",
               id=f"download-{fmt_}") for fmt_, label in (("cif", "CIF"), ("cif_symmetrized", "symmetrized CIF"),
                                                          ("poscar", "POSCAR"), ("json", "JSON"))
    ]) if material.structure is not None else _notice(
        "Energy-only Materials Project hull phase: the snapshot has no structure, so there is nothing to view or "
        "download.", "warning", "no-structure")
    content = html.Div([
        html.H1([doc["formula_pretty"], html.Span(f"  {material_id}", className="has-text-grey is-size-5")],
                className="title is-3", id="material-title"),
        html.Span(licence, className="tag is-warning" if material.licence == "CC-BY-NC-4.0" else "tag is-info"),
        html.Div(className="columns", style={"marginTop": "1rem"}, children=[
            html.Div(className="column is-5", children=[html.H4("Properties", className="title is-5"), properties,
                                                        downloads]),
            html.Div(className="column is-7", children=[html.H4("Stability", className="title is-5"),
                                                        _table(stability_rows), figure]),
        ]),
    ])
    return content, material.get_structure()


# ---- screens and discovery ----------------------------------------------------------------------

def screens_page():
    import plotly.graph_objects as go

    from materials.models import ScreenRun
    from materials.screens import SCREENS

    blocks = [html.H1("Families of interest", className="title is-4")]
    for name, (title, _stages, _) in SCREENS.items():
        run = ScreenRun.objects.filter(screen=name, status=ScreenRun.Status.SUCCEEDED).first()
        blocks.append(html.H2(title, className="title is-5"))
        if run is None:
            blocks.append(_notice(f"Not run yet: an admin starts it (admin: Screen runs) or manage.py run_screen {name}."))
            continue
        figure = go.Figure(go.Funnel(y=[s["name"] for s in run.stages], x=[s["output"] for s in run.stages],
                                     textinfo="value"))
        figure.update_layout(height=60 + 45 * len(run.stages), margin={"l": 10, "r": 10, "t": 10, "b": 10})
        rows = [html.Tr([html.Td(s["name"]), html.Td(s["input"]), html.Td(s["passed"]), html.Td(s["failed"]),
                         html.Td(s["unknown"]), html.Td(s["output"])]) for s in run.stages]
        summary = run.summary or {}
        blocks.append(html.Div(className="columns", children=[
            html.Div(className="column is-6", children=dcc.Graph(figure=figure, config={"displaylogo": False})),
            html.Div(className="column is-6", children=[
                html.Table(className="table is-narrow", children=[html.Thead(html.Tr([html.Th(h) for h in (
                    "stage", "in", "passed", "failed", "unknown", "out")])), html.Tbody(rows)]),
                html.P(f"Candidates {summary.get('candidates', 0)}, passed with unknowns "
                       f"{summary.get('passed_with_unknowns', 0)}; run #{run.pk} on hull version {run.hull_version}, "
                       f"criteria {run.criteria}.", className="is-size-7"),
            ]),
        ]))
    return html.Div(blocks)


def discovery_page():
    return html.Div([
        html.H1("Discovery rounds", className="title is-4"),
        _notice("No discovery rounds yet. Rounds (candidates, hit rate and discovery rate per round, predicted "
                "against evaluated energies) appear here once admins start them.", "info", "no-rounds"),
    ])


# ---- registration -------------------------------------------------------------------------------

def register(app, structure) -> None:
    form_inputs = [Input("q", "value"), Input("picked", "data"), Input("hull", "value"), Input("stable", "value"),
                   Input("ehull", "value"), Input("eform_min", "value"), Input("eform_max", "value"),
                   Input("nel_min", "value"), Input("nel_max", "value"), Input("gap_min", "value"),
                   Input("crystal_system", "value"), Input("spacegroup", "value"), Input("source", "value"),
                   Input("license", "value"), Input("families", "value"), Input("results", "sort_by"),
                   Input("results", "page_current")]

    @app.callback(Output("page", "children"), Output("structure-panel", "style"), Output(structure.id(), "data"),
                  Input("url", "pathname"), State("url", "search"))
    def route(pathname, query_string):
        path = (pathname or PREFIX)[len(PREFIX) - 1:] if (pathname or "").startswith(PREFIX[:-1]) else pathname
        hidden = {"display": "none"}
        try:
            if path.startswith("/material/"):
                content, crystal = material_page(unquote(path[len("/material/"):]).strip("/"))
                return content, ({"display": "block"} if crystal is not None else hidden), crystal
            if path.rstrip("/") == "/screens":
                return screens_page(), hidden, no_update
            if path.rstrip("/") == "/discovery":
                return discovery_page(), hidden, no_update
            return search_page(search.from_url(query_string)), hidden, no_update
        except Exception:  # noqa: BLE001 - a page that fails says so instead of going blank
            log.exception("explorer page %s failed", pathname)
            return _notice("This page could not be built; the error was logged.", "danger"), hidden, no_update

    @app.callback(Output("results", "data"), Output("results", "page_count"), Output("results", "page_current"),
                  Output("message", "children"), Output("url", "search"), *form_inputs, Input("go", "n_clicks"),
                  State("url", "search"))
    def update_results(*args):
        values = _values_from_form(*args[:-2])
        previous = search.from_url(args[-1])
        if any(values[k] != previous[k] for k in search.DEFAULTS if k not in ("page", "sort")):
            values["page"] = 1  # a changed filter starts again at the first page
        try:
            rows, total, error = run_search(values)
        except Exception:  # noqa: BLE001
            log.exception("explorer search failed")
            return [], 0, 0, _notice("The search failed on the server; the error was logged.", "danger"), no_update
        url = search.to_url(values)
        if error:
            return [], 0, 0, _notice(error, "danger", "search-error"), url
        if total == 0:
            return [], 0, 0, _notice("No material matches this search.", "warning", "no-results"), url
        pages = max(1, -(-total // search.PAGE_SIZE))
        start = (values["page"] - 1) * search.PAGE_SIZE
        message = html.P(f"{total:,} material{'s' if total != 1 else ''}; showing {start + 1:,}-{start + len(rows):,}.",
                         id="result-count", className="is-size-7")
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
