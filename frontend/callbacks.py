"""Pages and callbacks of the explorer. Reads through materials.query (the REST API's query module), the
hull service and the screens; every failure is shown as a message that says what happened."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from dash import ALL, Input, Output, State, ctx, dash_table, dcc, html, no_update

from . import predict_page, search, similar
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


def run_search(values: dict) -> tuple[list[dict], int, str | None, bool]:
    """(rows of the page, total, error message, whether the total is an estimate) for form values, through
    the REST API's query module (which counts exactly where that is cheap)."""
    from materials import counting
    from materials import query as catalogue_query

    params = search.query_params(values)
    params["_page"] = str(values["page"])
    params["_per_page"] = str(search.PAGE_SIZE)
    params["_fields"] = ",".join(c for c, _ in COLUMNS)
    try:
        query = catalogue_query.parse(params)
    except catalogue_query.QueryError as exc:
        field = search.FIELD_OF_PARAM.get(exc.param, exc.param)
        return [], 0, f"{field}: {exc.message}", False
    qs = query.queryset()
    counted = counting.total(qs)
    total = counted.count
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
    counted = counting.settled(counted, values["page"] == 1, len(rows), search.PAGE_SIZE)
    return rows, counted.count, None, counted.estimate


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
    licence = ("CC BY-NC 4.0 (GNoME, non-commercial)" if material.licence == "CC-BY-NC-4.0"
               else material.get_licence_display())
    properties = _table([
        ("Formula", f"{doc['formula_pretty']} (cell {doc['composition']})"), ("Chemical system", doc["chemsys"]),
        ("Space group", f"{doc['spacegroup_symbol']} ({doc['spacegroup_number']})" if doc["spacegroup_number"] else None),
        ("Crystal system", doc["crystal_system"]), ("Sites", doc["nsites"]),
        ("Volume (Å³)", fmt(doc["volume"], 2)), ("Density (g/cm³)", fmt(doc["density"], 3)),
        ("Formation energy (eV/atom)",
         f"{fmt(doc['formation_energy_per_atom'], 4)} ({doc['energy_method'] or 'no method'})"),
        ("Band gap (eV)", fmt(doc["band_gap"], 2) if doc["band_gap"] is not None else "not computed"),
        ("Dimensionality (Cheon, 0.45 Å)", doc["dimensionality"] or "not computed"),
        ("Source", f"{material.get_source_display()}, {material.dataset}"), ("Licence", licence),
    ])
    stability_rows = []
    from materials.services import hull_completeness

    for s in sorted(material.stabilities.all(), key=lambda s: s.hull_set):
        if s.e_above_hull_ev_per_atom is None:
            text = s.note or "not placed"
        elif s.e_above_hull_ev_per_atom < -5e-5:
            text = f"{-s.e_above_hull_ev_per_atom * 1000:.1f} meV/atom below the hull of these phases: a new stable phase"
        else:
            parts = ", ".join(f"{pid} ({frac:.2f})" for pid, frac in s.decomposition) or "itself"
            text = (f"{s.e_above_hull_ev_per_atom * 1000:.1f} meV/atom above the hull; "
                    f"{'stable' if s.is_stable else 'decomposes to ' + parts}")
        if s.e_above_hull_ev_per_atom is not None and material.nelements >= 2:
            text += "; " + completeness_text(hull_completeness([material.chemsys], s.hull_set,
                                                               exclude_material_ids=[material_id])[material.chemsys])
        stability_rows.append((f"Hull: {'all phases' if s.hull_set == 'all' else 'Materials Project'}", text))
    judged = (material.extra or {}).get("hull_completeness")
    if judged:
        stability_rows.append(("Hull when judged (discovery round)", completeness_text(judged)))
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
        *conductivity_panel(material), *similar.panel(material_id),
    ])
    return content, material.get_structure()


def conductivity_panel(material) -> list:
    """Li-ion conductivity from machine-learned MD (discovery.conductivity), when a study has run it: the
    numbers with their settings, the verdict, the Arrhenius fit, and the mean squared displacement."""
    if not material.md_runs.exists():
        return []
    import plotly.graph_objects as go

    from discovery.conductivity import summary

    found = summary(material)
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
                html.Div(className="column is-6", children=_table(rows)),
                html.Div(className="column is-6", children=dcc.Graph(id="msd-plot", figure=figure,
                                                                     config={"displaylogo": False})),
            ])]


# ---- screens ------------------------------------------------------------------------------------

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


# ---- discovery rounds ---------------------------------------------------------------------------
# Everything here reads through the discovery app's models and the REST API's serialisers (discovery.api), so
# that the page and /api/v1/discovery/ say the same thing. Predicted energies are the GNN ensemble's, evaluated
# ones the round's evaluator's (a machine-learned potential): neither is DFT, and every label says so.

PREDICTED_LABEL = "GNN ensemble (machine-learned)"
ROUND_COLUMNS = [
    ("id", "Round"), ("name", "Name"), ("status", "Status"), ("stage", "Stage"), ("progress", "Progress"),
    ("generated", "Generated"), ("evaluated", "Evaluated"), ("hit_rate", "Hit rate"), ("prevalence", "Prevalence"),
    ("daf", "DAF"), ("new_stable", "New stable"), ("created", "Created"),
]
ARM_COLOURS = {"filtered": "#3273dc", "control": "#f14668"}
STATUS_TAGS = {"succeeded": "is-success", "failed": "is-danger", "running": "is-info", "cancelled": "is-warning",
               "pending": "is-light"}
MAX_ROUNDS = 200  # as the REST API's round list


def discovery_href(round_id: int | None = None) -> str:
    return f"{PREFIX}discovery" if round_id is None else f"{PREFIX}discovery/{round_id}"


def _percent(value) -> str:
    return "—" if value is None else f"{fmt(value, 1, 100)} %"


def _when(value) -> str:
    from django.utils import timezone

    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else "—"


def _duration(seconds) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _label(choices, value: str) -> str:
    try:
        return choices(value).label
    except ValueError:
        return value or "—"


def round_docs(limit: int = MAX_ROUNDS) -> list[dict]:
    """The newest rounds, newest first, as the REST API's full round documents."""
    from discovery.api import round_doc
    from discovery.models import DiscoveryRound

    return [round_doc(r, full=True) for r in DiscoveryRound.objects.select_related("checkpoint")[:limit]]


def round_rows(docs: list[dict]) -> list[dict]:
    """Rows of the rounds table (same order as ``docs``): counts, rates and the number of new stable materials."""
    from discovery.models import DiscoveryRound

    rows = []
    for doc in docs:
        metrics, counts = doc.get("metrics") or {}, doc.get("counts") or {}
        rows.append({
            "id": f"[#{doc['id']}]({discovery_href(doc['id'])})", "name": doc["name"] or "—",
            "status": _label(DiscoveryRound.Status, doc["status"]), "stage": _label(DiscoveryRound.Stage, doc["stage"]),
            "progress": doc["progress"] or "—", "generated": counts.get("generated", "—"),
            "evaluated": counts.get("evaluated", "—"), "hit_rate": _percent(doc["hit_rate"]),
            "prevalence": _percent(doc["prevalence"]), "daf": fmt(doc["daf"], 2),
            "new_stable": len(metrics["new_stable"]) if "new_stable" in metrics else "—",
            "created": _when(doc["created_at"]),
        })
    return rows


def rounds_figure(docs: list[dict]):
    """Hit rate (the model's arm) and prevalence (the random control) per measured round, oldest first, as bars;
    the discovery acceleration factor on a second axis and in the hover. None when no round has either rate."""
    import plotly.graph_objects as go

    measured = [d for d in reversed(docs) if d["hit_rate"] is not None or d["prevalence"] is not None]
    if not measured:
        return None
    x = [f"#{d['id']} {d['name']}".strip() for d in measured]

    def arm(doc, which):
        m = doc.get("metrics") or {}
        return [m.get(f"stable_{which}"), m.get(f"evaluated_{which}"), "—" if doc["daf"] is None else f"{doc['daf']:.2f}"]

    figure = go.Figure()
    for key, name, which, colour in (("hit_rate", "Hit rate (model-filtered)", "filtered", ARM_COLOURS["filtered"]),
                                     ("prevalence", "Prevalence (random control)", "control", ARM_COLOURS["control"])):
        figure.add_trace(go.Bar(
            x=x, y=[d[key] for d in measured], name=name, marker_color=colour,
            customdata=[arm(d, which) for d in measured],
            hovertemplate=f"{name}: %{{y:.1%}}<br>%{{customdata[0]}} stable of %{{customdata[1]}} evaluated"
                          "<br>DAF %{customdata[2]}<extra>%{x}</extra>"))
    figure.add_trace(go.Scatter(
        x=x, y=[d["daf"] for d in measured], name="DAF (hit rate / prevalence)", yaxis="y2", mode="lines+markers",
        line={"color": "#48c78e"}, hovertemplate="DAF %{y:.2f}<extra>%{x}</extra>"))
    figure.update_layout(
        barmode="group", bargap=0.35, height=340, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        yaxis={"title": "stable share of the evaluated", "tickformat": ".0%", "rangemode": "tozero"},
        yaxis2={"title": "DAF", "overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False},
        xaxis={"type": "category"}, legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return figure


def evaluated_label(config: dict, methods=()) -> str:
    """What the evaluated energies are: the evaluator that made them (a machine-learned potential, not DFT)."""
    names = sorted({m.split(" relax (")[0] for m in methods if m})
    if not names:
        from discovery.evaluation import evaluator_named

        try:
            names = [evaluator_named(str(config.get("evaluator") or "")).label]
        except (ValueError, TypeError):
            names = [str(config.get("evaluator") or "the round's evaluator")]
    return f"{' / '.join(names)} (machine-learned potential, not DFT)"


def parity_figure(candidates: list[dict], evaluated: str):
    """Predicted against evaluated formation energy of evaluated candidates (``candidate_doc`` documents), one
    trace per arm, with the y = x line. None when no candidate has both energies."""
    import plotly.graph_objects as go

    from discovery.models import Candidate

    points = [c for c in candidates if c["evaluated"] and c["evaluated"]["status"] == Candidate.Evaluation.DONE
              and c["predicted"]["e_form_ev_per_atom"] is not None and c["evaluated"]["e_form_ev_per_atom"] is not None]
    if not points:
        return None
    figure = go.Figure()
    for arm in (Candidate.Arm.FILTERED, Candidate.Arm.CONTROL):
        mine = [c for c in points if c["arm"] == arm]
        if not mine:
            continue
        figure.add_trace(go.Scatter(
            x=[c["predicted"]["e_form_ev_per_atom"] for c in mine], y=[c["evaluated"]["e_form_ev_per_atom"] for c in mine],
            mode="markers", name=arm.label, marker={"color": ARM_COLOURS[arm], "size": 9, "opacity": 0.8},
            text=[c["formula"] for c in mine],
            customdata=[[c["evaluated"]["material_id"] or "not stored", fmt(c["evaluated"]["e_above_hull_ev_per_atom"],
                                                                            1, 1000)] for c in mine],
            hovertemplate="%{text} (%{customdata[0]})<br>predicted %{x:.3f} eV/atom<br>evaluated %{y:.3f} eV/atom"
                          "<br>E above hull %{customdata[1]} meV/atom<extra></extra>"))
    values = [c["predicted"]["e_form_ev_per_atom"] for c in points] + [c["evaluated"]["e_form_ev_per_atom"] for c in points]
    low, high = min(values), max(values)
    pad = max(0.05, 0.05 * (high - low))
    figure.add_trace(go.Scatter(x=[low - pad, high + pad], y=[low - pad, high + pad], mode="lines", name="y = x",
                                line={"color": "grey", "dash": "dash"}, hoverinfo="skip"))
    figure.update_layout(
        height=480, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend={"orientation": "h", "y": -0.2},
        xaxis={"title": f"Predicted formation energy (eV/atom)<br>{PREDICTED_LABEL}"},
        yaxis={"title": f"Evaluated formation energy (eV/atom)<br>{evaluated}", "scaleanchor": "x", "scaleratio": 1})
    return figure


def _config_value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "—"
    return "—" if value in (None, "") else str(value)


def completeness_text(h: dict) -> str:
    """"binary hulls complete (3 of 3 hold a compound)", or which binaries hold nothing but their elements."""
    if not h or h.get("complete") is None:
        return "an element: no binary hulls"
    if h["complete"]:
        return f"binary hulls complete ({h['covered']} of {h['binaries']} hold a compound)"
    return (f"binary hulls incomplete: {h['covered']} of {h['binaries']} hold a compound (no compound in "
            f"{', '.join(h['missing'][:6])}{' ...' if len(h['missing']) > 6 else ''}), so 'stable' may be stable "
            "against the elements only")


def _new_stable(doc: dict):
    from discovery.models import Candidate, DiscoveryRound
    from discovery.rounds import ORDER

    metrics = doc.get("metrics") or {}
    if "new_stable" not in metrics:
        measured = ORDER.index(DiscoveryRound.Stage.MEASURED)
        stage = doc["stage"] if doc["stage"] in ORDER else DiscoveryRound.Stage.CREATED
        if ORDER.index(stage) < measured:
            return _notice(f"Stability is measured once the round reaches the hull (now: "
                           f"{_label(DiscoveryRound.Stage, doc['stage']).lower()}).", "info", "no-new-stable")
        return _notice("This round recorded no new stable materials.", "info", "no-new-stable")
    if not metrics["new_stable"]:
        return _notice("No candidate of this round is on the convex hull: no new stable material.", "info",
                       "no-new-stable")
    items = []
    for x in metrics["new_stable"]:
        where = f"{fmt(x.get('e_above_hull_ev_per_atom'), 1, 1000)} meV/atom above the hull"
        h = x.get("hull_completeness")
        hull = "" if not h else "; " + completeness_text(h)
        items.append(html.Li([dcc.Link(x["material_id"], href=material_href(x["material_id"])),
                              f" {x['formula']}, {_label(Candidate.Arm, x['arm']).lower()}, {where}{hull}"],
                             className="is-complete-hull" if h and h["complete"] else "is-incomplete-hull"))
    return html.Ul(items, id="new-stable")


def _config_table(doc: dict):
    from discovery.rounds import DEFAULTS

    config = doc.get("config") or {}
    keys = [k for k in DEFAULTS if k in config] + sorted(k for k in config if k not in DEFAULTS)
    rows = [html.Tr([html.Th(html.Code(k)), html.Td(_config_value(config[k]))]) for k in keys]
    rows.append(html.Tr([html.Th("screened with"), html.Td(doc.get("screened_with") or "—")]))
    return html.Table(id="round-config", className="table is-narrow is-fullwidth", children=html.Tbody(rows))


def _timings_table(doc: dict):
    from discovery.models import DiscoveryRound
    from discovery.rounds import ORDER

    timings = doc.get("timings") or {}
    stages = [s for s in ORDER if s in timings] + sorted(k for k in timings if k not in ORDER)
    if not stages:
        return _notice("No stage has finished yet.", "info", "no-timings")
    rows = [html.Tr([html.Td(_label(DiscoveryRound.Stage, s)), html.Td(_duration(timings[s]))]) for s in stages]
    rows.append(html.Tr([html.Th("Total"), html.Th(_duration(sum(timings[s] for s in stages)))]))
    return html.Table(id="round-timings", className="table is-narrow", children=[
        html.Thead(html.Tr([html.Th("Stage"), html.Th("Wall time")])), html.Tbody(rows)])


def round_detail(round_id: int):
    """A round's summary, parity plot, new stable materials, configuration and per-stage timings."""
    from discovery.api import candidate_doc, round_doc
    from discovery.models import Candidate, DiscoveryRound

    rnd = DiscoveryRound.objects.select_related("checkpoint").filter(pk=round_id).first()
    if rnd is None:
        return _notice(f"No discovery round #{round_id}.", "warning", "round-not-found")
    doc = round_doc(rnd, full=True)
    metrics, counts = doc.get("metrics") or {}, doc.get("counts") or {}
    evaluated_qs = (Candidate.objects.filter(round=rnd).exclude(evaluation=Candidate.Evaluation.NONE)
                    .select_related("material").order_by("pk"))
    candidates = [candidate_doc(c) for c in evaluated_qs]
    evaluated = evaluated_label(doc.get("config") or {}, [c["evaluated"]["method"] for c in candidates])
    figure = parity_figure(candidates, evaluated)
    failed = sum(1 for c in candidates if c["evaluated"]["status"] == Candidate.Evaluation.FAILED)
    if figure is None:
        parity = _notice(f"No evaluated candidates yet (the round is at: "
                         f"{_label(DiscoveryRound.Stage, rnd.stage).lower()}).", "info", "no-parity")
    else:
        parity = dcc.Graph(id="parity-plot", figure=figure, config={"displaylogo": False})

    def share(rate, arm, m=metrics):
        interval = m.get(("hit_rate" if arm == "filtered" else "prevalence") + "_ci95")
        ci = f", 95% {_percent(interval[0])} to {_percent(interval[1])}" if interval else ""
        return f"{_percent(rate)} ({m.get('stable_' + arm, '—')} stable of {m.get('evaluated_' + arm, '—')}{ci})"

    complete = metrics.get("complete_hulls")
    complete_rows = [] if not complete else [
        ("Hit rate, complete binary hulls only", share(complete["hit_rate"], "filtered", complete)),
        ("Prevalence, complete binary hulls only", share(complete["prevalence"], "control", complete)),
        ("DAF, complete binary hulls only", fmt(complete["daf"], 2)),
    ]
    summary = _table([
        ("Hit rate (model-filtered)", share(doc["hit_rate"], "filtered")),
        ("Prevalence (random control)", share(doc["prevalence"], "control")),
        ("Discovery acceleration factor", fmt(doc["daf"], 2)),
        *complete_rows,
        ("Ensemble MAE on evaluated (eV/atom)", fmt(metrics.get("ensemble_mae_ev_per_atom"), 3)),
        ("Candidates", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()
                                 if isinstance(v, int) and not isinstance(v, bool)) or "—"),
        ("Predicted energies", PREDICTED_LABEL),
        ("Evaluated energies", evaluated),
        ("Created", f"{_when(doc['created_at'])}{' by ' + rnd.created_by if rnd.created_by else ''}"),
        ("Finished", _when(doc["finished_at"])),
    ])
    return html.Div(id="round-detail", children=[
        html.H2([f"Round #{rnd.pk} {rnd.name}", html.Span(_label(DiscoveryRound.Status, rnd.status),
                                                          className=f"tag {STATUS_TAGS.get(rnd.status, '')}",
                                                          style={"marginLeft": "0.75rem"})],
                className="title is-5", id="round-title"),
        html.P(f"{_label(DiscoveryRound.Stage, rnd.stage)}; {rnd.progress or 'no progress reported'}.",
               className="is-size-7"),
        _notice(f"The round failed: {rnd.error}", "danger", "round-error") if rnd.error else None,
        html.Div(className="columns", children=[
            html.Div(className="column is-7", children=[
                html.H3("Predicted against evaluated formation energy", className="title is-6"), parity,
                html.P(f"{failed} evaluation(s) failed and are not plotted." if failed else "", className="is-size-7"),
            ]),
            html.Div(className="column is-5", children=[
                html.H3("Summary", className="title is-6"), summary,
                html.H3("New stable materials", className="title is-6"), _new_stable(doc),
            ]),
        ]),
        html.Div(className="columns", children=[
            html.Div(className="column is-7", children=[html.H3("Configuration", className="title is-6"),
                                                        _config_table(doc)]),
            html.Div(className="column is-5", children=[html.H3("Time per stage", className="title is-6"),
                                                        _timings_table(doc)]),
        ]),
    ])


def screening_panel():
    """How the ensemble rounds screen with tells unrelaxed candidates apart: figures on held-out evaluated
    candidates (discovery.training.screening_card), with sample sizes and 95 % intervals."""
    from discovery.training import screening_card

    card = screening_card()
    if not card or not card.get("figures"):
        return _notice("The screening model has not been measured on evaluated candidates yet.", "info",
                       "no-screening-figures")
    f, t = card["figures"], card["figures"]["at_threshold"]

    def ci(pair, scale=100.0, unit=" %"):
        return "" if not pair else f" (95 %: {fmt(pair[0] * scale, 1)} to {fmt(pair[1] * scale, 1)}{unit})"

    rows = [
        ("Ensemble", f"{card['ensemble']}, {'with' if card['screen_tta'] else 'without'} test-time augmentation"),
        ("Measured on", f"{f['n']} {card['set']} (unrelaxed, relaxed afterwards by {card['evaluator'] or 'the evaluator'}:"
                        " a machine-learned potential, not DFT)"),
        ("MAE / bias", f"{fmt(f['mae_ev_per_atom'] * 1000, 1)} / {fmt(f['bias_ev_per_atom'] * 1000, 1)} meV/atom "
                       "(predicted minus evaluated formation energy)"),
        (f"Passed at {fmt(f['threshold_ev_per_atom'] * 1000, 0)} meV/atom", f"{t['passed']} of {t['n']}"),
        ("Precision (hit rate)", _percent(t["precision"]) + ci(t["precision_ci95"])),
        ("Recall", _percent(t["recall"]) + ci(t["recall_ci95"])),
        ("Prevalence", _percent(t["prevalence"]) + ci(t["prevalence_ci95"])),
        ("F1", fmt(t["f1"], 3) + ci(t.get("f1_ci95"), 1.0, "")),
        ("DAF", fmt(t["daf"], 2) + ci(t.get("daf_ci95"), 1.0, "")),
        ("DFT test MAE", f"{fmt((card['dft_test_mae_ev_per_atom'] or 0) * 1000, 1)} meV/atom (relaxed GNoME "
                         "structures, no augmentation)"),
    ]
    return html.Div(id="screening-panel", className="box", children=[
        html.H2("Screening model", className="title is-5"),
        html.P("Stable: at most 0.05 meV/atom above the hull, judged without the candidate itself, by the "
               "evaluator's energy. Predictions are the GNN ensemble's (machine-learned).", className="is-size-7"),
        html.Table(className="table is-narrow is-size-7",
                   children=[html.Tbody([html.Tr([html.Th(k), html.Td(v)]) for k, v in rows])]),
    ])


def discovery_page(round_id: str | None = None):
    """Every round (table and hit rate / prevalence plot) and, for ``round_id`` (the URL's
    /explorer/discovery/<id>), that round's details."""
    docs = round_docs()
    blocks = [
        html.H1("Discovery rounds", className="title is-4"),
        html.P("Each round generates candidate crystals, screens them with the GNN ensemble (machine-learned), "
               "evaluates the model's picks and a random control sample with a machine-learned potential (not DFT), "
               "and places them on the hull. Hit rate: the stable share of the model's picks; prevalence: the stable "
               "share of the random control; DAF (discovery acceleration factor): their ratio.",
               className="is-size-7", style={"marginBottom": "1rem"}),
    ]
    blocks.append(screening_panel())
    picked = None
    if round_id not in (None, ""):
        if not str(round_id).isdigit():
            return html.Div([*blocks, _notice(f"No discovery round {round_id!r}: round ids are whole numbers.",
                                              "warning", "round-not-found")])
        picked = int(round_id)
    if not docs:
        blocks.append(_notice("No discovery rounds yet; admins start them from the admin panel (Discovery rounds) "
                              "or with manage.py run_round.", "info", "no-rounds"))
        if picked is not None:
            blocks.append(_notice(f"No discovery round #{picked}.", "warning", "round-not-found"))
        return html.Div(blocks)
    table = dash_table.DataTable(
        id="rounds-table",
        columns=[{"id": c, "name": n, "presentation": "markdown"} if c == "id" else {"id": c, "name": n}
                 for c, n in ROUND_COLUMNS],
        data=round_rows(docs), page_action="native", page_size=20,
        style_table={"overflowX": "auto"}, style_cell={"fontFamily": "inherit", "fontSize": "0.9rem", "padding": "4px"},
        style_cell_conditional=[{"if": {"column_id": c}, "textAlign": "left"}
                                for c in ("id", "name", "status", "stage", "progress")],
        markdown_options={"link_target": "_self"},
    )
    figure = rounds_figure(docs)
    options = [{"label": f"#{d['id']} {d['name']} ({d['status']})", "value": d["id"]} for d in docs]
    if picked is not None and picked not in {d["id"] for d in docs}:
        options.append({"label": f"#{picked}", "value": picked})
    blocks += [
        table,
        html.H2("Hit rate and prevalence per round", className="title is-5", style={"marginTop": "1.5rem"}),
        html.P("Stable: on the hull after the round, by the evaluator's energies (a machine-learned potential, not "
               "DFT). The model's picks were screened with the GNN ensemble (machine-learned).", className="is-size-7"),
        dcc.Graph(id="rounds-figure", figure=figure, config={"displaylogo": False}) if figure is not None else
        _notice("No round has measured its hit rate or prevalence yet.", "info", "no-metrics"),
        html.Div(className="field", style={"maxWidth": "420px", "marginTop": "1rem"}, children=[
            html.Label("Round", className="label is-small"),
            dcc.Dropdown(id="round-picker", options=options, value=picked, placeholder="Pick a round for its details"),
        ]),
        round_detail(picked) if picked is not None else
        _notice("Pick a round (table or list above) to see its candidates, new stable materials, configuration and "
                "timings.", "info", "no-round-picked"),
    ]
    return html.Div(blocks)


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
            if path.rstrip("/") == "/predict":
                return predict_page.page(), hidden, no_update
            if path.rstrip("/") == "/discovery" or path.startswith("/discovery/"):
                return discovery_page(unquote(path[len("/discovery"):]).strip("/") or None), hidden, no_update
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
            rows, total, error, estimate = run_search(values)
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
        about = "about " if estimate else ""  # a large total is PostgreSQL's estimate, and says so
        message = html.P(f"{about}{total:,} material{'s' if total != 1 else ''}; showing {start + 1:,}-"
                         f"{start + len(rows):,}.", id="result-count", className="is-size-7")
        return rows, pages, values["page"] - 1, message, url

    @app.callback(Output("url", "pathname"), Input("round-picker", "value"), State("url", "pathname"),
                  prevent_initial_call=True)
    def pick_round(round_id, pathname):
        """The picked round goes into the URL (/explorer/discovery/<id>), which the router turns into the page."""
        target = discovery_href(round_id if round_id not in (None, "") else None)
        return no_update if (pathname or "").rstrip("/") == target else target

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
