"""The discovery page (/explorer/discovery, one round at /explorer/discovery/<id>): every round's hit rate,
prevalence and DAF, the screening model's figures, and one round's parity plot, new stable materials,
configuration and timings.

It reads the documents the REST API serves (``discovery.services``: /api/v1/discovery/ and its candidates), so the
page and the API say the same thing. Predicted energies are the GNN ensemble's, evaluated ones the round's
evaluator's (a machine-learned potential): neither is DFT, and every label says so.
"""

from __future__ import annotations

from dash import Input, Output, State, dash_table, dcc, html, no_update

from discovery import services as discovery

from ..components import completeness_text, fmt, notice, percent, table
from ..links import discovery_href, material_href
from .campaigns import campaigns_block

__all__ = ["discovery_page", "evaluated_label", "parity_figure", "register", "round_detail", "round_rows",
           "rounds_figure", "screening_panel"]

PREDICTED_LABEL = "GNN ensemble (machine-learned)"
ROUND_COLUMNS = [
    ("id", "Round"), ("name", "Name"), ("status", "Status"), ("stage", "Stage"), ("progress", "Progress"),
    ("generated", "Generated"), ("evaluated", "Evaluated"), ("hit_rate", "Hit rate"), ("prevalence", "Prevalence"),
    ("daf", "DAF"), ("new_stable", "New stable"), ("created", "Created"),
]
ARM_COLOURS = {"filtered": "#3273dc", "control": "#f14668"}
STATUS_TAGS = {"succeeded": "is-success", "failed": "is-danger", "running": "is-info", "cancelled": "is-warning",
               "pending": "is-light"}


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


def round_rows(docs: list[dict]) -> list[dict]:
    """Rows of the rounds table (same order as ``docs``): counts, rates and the number of new stable materials."""
    rows = []
    for doc in docs:
        metrics, counts = doc.get("metrics") or {}, doc.get("counts") or {}
        rows.append({
            "id": f"[#{doc['id']}]({discovery_href(doc['id'])})", "name": doc["name"] or "—",
            "status": discovery.status_label(doc["status"]), "stage": discovery.stage_label(doc["stage"]),
            "progress": doc["progress"] or "—", "generated": counts.get("generated", "—"),
            "evaluated": counts.get("evaluated", "—"), "hit_rate": percent(doc["hit_rate"]),
            "prevalence": percent(doc["prevalence"]), "daf": fmt(doc["daf"], 2),
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
        try:
            names = [discovery.evaluator_label(str(config.get("evaluator") or ""))]
        except (ValueError, TypeError):
            names = [str(config.get("evaluator") or "the round's evaluator")]
    return f"{' / '.join(names)} (machine-learned potential, not DFT)"


def parity_figure(candidates: list[dict], evaluated: str):
    """Predicted against evaluated formation energy of evaluated candidates (``candidate_doc`` documents), one
    trace per arm, with the y = x line. None when no candidate has both energies."""
    import plotly.graph_objects as go

    points = [c for c in candidates if c["evaluated"] and c["evaluated"]["status"] == discovery.EVALUATION_DONE
              and c["predicted"]["e_form_ev_per_atom"] is not None and c["evaluated"]["e_form_ev_per_atom"] is not None]
    if not points:
        return None
    figure = go.Figure()
    for arm, arm_name in discovery.ARMS:
        mine = [c for c in points if c["arm"] == arm]
        if not mine:
            continue
        figure.add_trace(go.Scatter(
            x=[c["predicted"]["e_form_ev_per_atom"] for c in mine], y=[c["evaluated"]["e_form_ev_per_atom"] for c in mine],
            mode="markers", name=arm_name, marker={"color": ARM_COLOURS[arm], "size": 9, "opacity": 0.8},
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


def _new_stable(doc: dict):
    metrics = doc.get("metrics") or {}
    if "new_stable" not in metrics:
        if discovery.metrics_pending(doc["stage"]):
            return notice(f"Stability is measured once the round reaches the hull (now: "
                          f"{discovery.stage_label(doc['stage']).lower()}).", "info", "no-new-stable")
        return notice("This round recorded no new stable materials.", "info", "no-new-stable")
    if not metrics["new_stable"]:
        return notice("No candidate of this round is on the convex hull: no new stable material.", "info",
                      "no-new-stable")
    items = []
    for x in metrics["new_stable"]:
        where = f"{fmt(x.get('e_above_hull_ev_per_atom'), 1, 1000)} meV/atom above the hull"
        h = x.get("hull_completeness")
        hull = "" if not h else "; " + completeness_text(h)
        items.append(html.Li([dcc.Link(x["material_id"], href=material_href(x["material_id"])),
                              f" {x['formula']}, {discovery.arm_label(x['arm']).lower()}, {where}{hull}"],
                             className="is-complete-hull" if h and h["complete"] else "is-incomplete-hull"))
    return html.Ul(items, id="new-stable")


def _config_table(doc: dict):
    config = doc.get("config") or {}
    keys = [k for k in discovery.CONFIG_KEYS if k in config] + sorted(k for k in config if k not in discovery.CONFIG_KEYS)
    rows = [html.Tr([html.Th(html.Code(k)), html.Td(_config_value(config[k]))]) for k in keys]
    rows.append(html.Tr([html.Th("screened with"), html.Td(doc.get("screened_with") or "—")]))
    return html.Table(id="round-config", className="table is-narrow is-fullwidth", children=html.Tbody(rows))


def _timings_table(doc: dict):
    timings = doc.get("timings") or {}
    stages = [s for s in discovery.STAGES if s in timings] + sorted(k for k in timings if k not in discovery.STAGES)
    if not stages:
        return notice("No stage has finished yet.", "info", "no-timings")
    rows = [html.Tr([html.Td(discovery.stage_label(s)), html.Td(_duration(timings[s]))]) for s in stages]
    rows.append(html.Tr([html.Th("Total"), html.Th(_duration(sum(timings[s] for s in stages)))]))
    return html.Table(id="round-timings", className="table is-narrow", children=[
        html.Thead(html.Tr([html.Th("Stage"), html.Th("Wall time")])), html.Tbody(rows)])


def round_detail(round_id: int):
    """A round's summary, parity plot, new stable materials, configuration and per-stage timings."""
    found = discovery.round_with_candidates(round_id)
    if found is None:
        return notice(f"No discovery round #{round_id}.", "warning", "round-not-found")
    doc, candidates, created_by = found["round"], found["candidates"], found["created_by"]
    metrics, counts = doc.get("metrics") or {}, doc.get("counts") or {}
    evaluated = evaluated_label(doc.get("config") or {}, [c["evaluated"]["method"] for c in candidates])
    figure = parity_figure(candidates, evaluated)
    failed = sum(1 for c in candidates if c["evaluated"]["status"] == discovery.EVALUATION_FAILED)
    if figure is None:
        parity = notice(f"No evaluated candidates yet (the round is at: "
                        f"{discovery.stage_label(doc['stage']).lower()}).", "info", "no-parity")
    else:
        parity = dcc.Graph(id="parity-plot", figure=figure, config={"displaylogo": False})

    def share(rate, arm, m=metrics):
        interval = m.get(("hit_rate" if arm == "filtered" else "prevalence") + "_ci95")
        ci = f", 95% {percent(interval[0])} to {percent(interval[1])}" if interval else ""
        return f"{percent(rate)} ({m.get('stable_' + arm, '—')} stable of {m.get('evaluated_' + arm, '—')}{ci})"

    def daf(value, m=metrics):
        if value is not None:
            interval = m.get("daf_ci95")
            return fmt(value, 2) + (f" (95% {interval[0]:.2f} to {interval[1]:.2f}, Katz)" if interval else "")
        if not m.get("evaluated_filtered") or not m.get("evaluated_control"):
            return "— (an arm has no evaluated candidate)"
        interval = m.get("daf_ci95")
        bound = (f"; 95% from {interval[0]:.2f} to {interval[1]:.2f}, Katz with 0.5 added to each count"
                 if interval else "")
        return f"— (no stable control candidate{bound}: a larger control arm narrows it)"

    complete = metrics.get("complete_hulls")
    complete_rows = [] if not complete else [
        ("Hit rate, complete binary hulls only", share(complete["hit_rate"], "filtered", complete)),
        ("Prevalence, complete binary hulls only", share(complete["prevalence"], "control", complete)),
        ("DAF, complete binary hulls only", daf(complete["daf"], complete)),
    ]
    summary = table([
        ("Hit rate (model-filtered)", share(doc["hit_rate"], "filtered")),
        ("Prevalence (random control)", share(doc["prevalence"], "control")),
        ("Discovery acceleration factor", daf(doc["daf"])),
        *complete_rows,
        ("Ensemble MAE on evaluated (eV/atom)", fmt(metrics.get("ensemble_mae_ev_per_atom"), 3)),
        ("Candidates", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()
                                 if isinstance(v, int) and not isinstance(v, bool)) or "—"),
        ("Predicted energies", PREDICTED_LABEL),
        ("Evaluated energies", evaluated),
        ("Created", f"{_when(doc['created_at'])}{' by ' + created_by if created_by else ''}"),
        ("Finished", _when(doc["finished_at"])),
    ])
    return html.Div(id="round-detail", children=[
        html.H2([f"Round #{doc['id']} {doc['name']}", html.Span(discovery.status_label(doc["status"]),
                                                                className=f"tag {STATUS_TAGS.get(doc['status'], '')}",
                                                                style={"marginLeft": "0.75rem"})],
                className="title is-5", id="round-title"),
        html.P(f"{discovery.stage_label(doc['stage'])}; {doc['progress'] or 'no progress reported'}.",
               className="is-size-7"),
        notice(f"The round failed: {doc['error']}", "danger", "round-error") if doc["error"] else None,
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
    card = discovery.screening_card()
    if not card or not card.get("figures"):
        return notice("The screening model has not been measured on evaluated candidates yet.", "info",
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
        ("Precision (hit rate)", percent(t["precision"]) + ci(t["precision_ci95"])),
        ("Recall", percent(t["recall"]) + ci(t["recall_ci95"])),
        ("Prevalence", percent(t["prevalence"]) + ci(t["prevalence_ci95"])),
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
    docs = discovery.round_documents(full=True)
    blocks = [
        html.H1("Discovery rounds", className="title is-4"),
        html.P("Each round generates candidate crystals, screens them with the GNN ensemble (machine-learned), "
               "evaluates the model's picks and a random control sample with a machine-learned potential (not DFT), "
               "and places them on the hull. Hit rate: the stable share of the model's picks; prevalence: the stable "
               "share of the random control; DAF (discovery acceleration factor): their ratio.",
               className="is-size-7", style={"marginBottom": "1rem"}),
        campaigns_block(discovery.campaign_documents()),
    ]
    blocks.append(screening_panel())
    picked = None
    if round_id not in (None, ""):
        if not str(round_id).isdigit():
            return html.Div([*blocks, notice(f"No discovery round {round_id!r}: round ids are whole numbers.",
                                             "warning", "round-not-found")])
        picked = int(round_id)
    if not docs:
        blocks.append(notice("No discovery rounds yet; admins start them from the admin panel (Discovery rounds) "
                             "or with manage.py run_round.", "info", "no-rounds"))
        if picked is not None:
            blocks.append(notice(f"No discovery round #{picked}.", "warning", "round-not-found"))
        return html.Div(blocks)
    rounds_table = dash_table.DataTable(
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
        rounds_table,
        html.H2("Hit rate and prevalence per round", className="title is-5", style={"marginTop": "1.5rem"}),
        html.P("Stable: on the hull after the round, by the evaluator's energies (a machine-learned potential, not "
               "DFT). The model's picks were screened with the GNN ensemble (machine-learned).", className="is-size-7"),
        dcc.Graph(id="rounds-figure", figure=figure, config={"displaylogo": False}) if figure is not None else
        notice("No round has measured its hit rate or prevalence yet.", "info", "no-metrics"),
        html.Div(className="field", style={"maxWidth": "420px", "marginTop": "1rem"}, children=[
            html.Label("Round", className="label is-small"),
            dcc.Dropdown(id="round-picker", options=options, value=picked, placeholder="Pick a round for its details"),
        ]),
        round_detail(picked) if picked is not None else
        notice("Pick a round (table or list above) to see its candidates, new stable materials, configuration and "
               "timings.", "info", "no-round-picked"),
    ]
    return html.Div(blocks)


def register(app) -> None:
    @app.callback(Output("url", "pathname"), Input("round-picker", "value"), State("url", "pathname"),
                  prevent_initial_call=True)
    def pick_round(round_id, pathname):
        """The picked round goes into the URL (/explorer/discovery/<id>), which the router turns into the page."""
        target = discovery_href(round_id if round_id not in (None, "") else None)
        return no_update if (pathname or "").rstrip("/") == target else target
