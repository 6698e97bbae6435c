"""The campaign pages (/explorer/discovery/campaigns, one campaign at /explorer/discovery/campaigns/<id>): an
active-learning campaign runs several discovery rounds in a row and fine-tunes the GNN screening ensemble on
everything evaluated so far after each round.

A campaign's page shows, per round, the hit rate against the random control's prevalence, the discovery
acceleration factor (DAF), the ensemble's screening error on the round's candidates before it trained on them, the
new stable materials by hull completeness, and how the ensemble's test error scales with the evaluated candidates it
trained on; each plot has a table of the same numbers beside it. Everything comes from the campaign documents of
``discovery.services`` (the ones the REST API serves): this module only lays them out. Predictions are the GNN
ensemble's (machine-learned) and evaluated energies the rounds' evaluator's (a machine-learned potential): none is
DFT, and every label says so.
"""

from __future__ import annotations

from dash import dash_table, dcc, html

from discovery import services as discovery

from ..components import fmt, notice, percent, table
from ..links import campaign_href, discovery_href

__all__ = [
    "campaign_detail", "campaign_rows", "campaigns_block", "campaigns_page", "campaigns_table", "daf_figure",
    "daf_rows", "hit_rate_figure", "hit_rate_rows", "new_stable_figure", "new_stable_rows", "round_link_rows",
    "scaling_figure", "scaling_rows", "screening_mae_figure", "screening_mae_rows",
]

PREDICTED_LABEL = "GNN ensemble (machine-learned)"
EVALUATED_LABEL = "the rounds' evaluator (machine-learned potential, not DFT)"
ARM_COLOURS = {"filtered": "#3273dc", "control": "#f14668"}
HULL_COLOURS = {"complete": "#48c78e", "incomplete": "#ffb70f", "unknown": "#b5b5b5"}
STATUS_TAGS = {"succeeded": "is-success", "failed": "is-danger", "running": "is-info", "paused": "is-warning",
               "cancelled": "is-warning", "pending": "is-light"}
CAMPAIGN_COLUMNS = [
    ("id", "Campaign"), ("name", "Name"), ("status", "Status"), ("rounds", "Rounds done"),
    ("hit_rate", "Last hit rate"), ("daf", "Last DAF (95 %)"), ("new_stable", "New stable"),
]
ROUND_COLUMNS = [
    ("index", "Round"), ("round", "Discovery round"), ("status", "Status"), ("stage", "Stage"),
    ("screened_with", "Screened with"), ("checkpoint", "Fine-tuned into"), ("trained", "Candidates trained on"),
    ("activated", "Activated"), ("reasons", "Activation checks"),
]
HIT_RATE_COLUMNS = [
    ("round", "Round"), ("hit_rate", "Hit rate"), ("hit_rate_ci95", "95 % (Wilson)"), ("filtered", "Stable / evaluated"),
    ("prevalence", "Prevalence"), ("prevalence_ci95", "95 % (Wilson)"), ("control", "Stable / evaluated"),
]
DAF_COLUMNS = [("round", "Round"), ("daf", "DAF"), ("daf_ci95", "95 % (Katz)")]
MAE_COLUMNS = [("round", "Round"), ("mae", "MAE (meV/atom)"), ("mae_ci95", "95 %"), ("n", "n"),
               ("screened_with", "Screened with")]
NEW_STABLE_COLUMNS = [("round", "Round"), ("complete", "Complete hull"), ("incomplete", "Incomplete hull"),
                      ("new_stable", "Total")]
SCALING_COLUMNS = [("round", "After round"), ("training_candidates", "Candidates trained on"),
                   ("test_mae", "Test MAE (meV/atom)"), ("test_mae_ci95", "95 %"), ("test_n", "n (test)"),
                   ("checkpoint", "Checkpoint")]
GRAPH_CONFIG = {"displaylogo": False}


def _when(value) -> str:
    from django.utils import timezone

    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else "—"


def _status(value: str | None) -> str:
    return (value or "—").replace("_", " ").capitalize()


def _value(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(str(v) for v in value[:12]) or "—"
        return shown + (f", … ({len(value)} in all)" if len(value) > 12 else "")
    return "—" if value in (None, "") else str(value)


def _count(value) -> object:
    return "—" if value is None else value


def _interval(pair, show) -> str:
    """"low to high" of a [low, high] interval, each shown by ``show``; "—" when there is none."""
    return "—" if not pair else f"{show(pair[0])} to {show(pair[1])}"


def _ratio(stable, evaluated) -> str:
    return "—" if stable is None and evaluated is None else f"{_count(stable)} / {_count(evaluated)}"


def _label(r: dict) -> str:
    return f"Round {r['index']}"


def _mev(value):
    return None if value is None else value * 1000


def _errors(values: list, intervals: list, scale: float = 1.0) -> dict:
    """Plotly's asymmetric error bars (``error_y``) reaching from each value to its interval's ends."""
    plus = [None if v is None or not ci else ci[1] * scale - v for v, ci in zip(values, intervals, strict=True)]
    minus = [None if v is None or not ci else v - ci[0] * scale for v, ci in zip(values, intervals, strict=True)]
    return {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus, "thickness": 1.5, "width": 4}


def _layout(figure, **axes) -> None:
    figure.update_layout(height=330, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                         legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}, **axes)


def _rounds(doc: dict) -> list[dict]:
    return sorted(doc.get("rounds") or [], key=lambda r: r["index"])


def hit_rate_rows(rounds: list[dict]) -> list[dict]:
    """The hit rate table: each round's hit rate (model's arm) and prevalence (random control), their 95 % Wilson
    intervals and the stable / evaluated counts they come from."""
    return [{
        "round": _label(r),
        "hit_rate": percent(r.get("hit_rate")), "hit_rate_ci95": _interval(r.get("hit_rate_ci95"), percent),
        "filtered": _ratio(r.get("stable_filtered"), r.get("evaluated_filtered")),
        "prevalence": percent(r.get("prevalence")), "prevalence_ci95": _interval(r.get("prevalence_ci95"), percent),
        "control": _ratio(r.get("stable_control"), r.get("evaluated_control")),
    } for r in rounds]


def hit_rate_figure(rounds: list[dict]):
    """Hit rate and prevalence per round (bars, oldest first) with their 95 % intervals as error bars; None when
    no round has measured either."""
    import plotly.graph_objects as go

    if not any(r.get("hit_rate") is not None or r.get("prevalence") is not None for r in rounds):
        return None
    figure = go.Figure()
    for key, name, arm in (("hit_rate", "Hit rate (model-filtered)", "filtered"),
                           ("prevalence", "Prevalence (random control)", "control")):
        shown = [r for r in rounds if r.get(key) is not None]
        y = [r[key] for r in shown]
        figure.add_trace(go.Bar(
            x=[_label(r) for r in shown], y=y, name=name, marker_color=ARM_COLOURS[arm],
            error_y=_errors(y, [r.get(f"{key}_ci95") for r in shown]),
            customdata=[[_count(r.get(f"stable_{arm}")), _count(r.get(f"evaluated_{arm}"))] for r in shown],
            hovertemplate=f"{name}: %{{y:.1%}}<br>%{{customdata[0]}} stable of %{{customdata[1]}} evaluated"
                          "<extra>%{x}</extra>"))
    _layout(figure, barmode="group", bargap=0.3,
            xaxis={"type": "category", "categoryorder": "array", "categoryarray": [_label(r) for r in rounds]},
            yaxis={"title": "stable share of the evaluated", "tickformat": ".0%", "rangemode": "tozero"})
    return figure


def daf_rows(rounds: list[dict]) -> list[dict]:
    """The DAF table: each round's discovery acceleration factor and its 95 % Katz (log) interval."""
    return [{"round": _label(r), "daf": fmt(r.get("daf"), 2), "daf_ci95": _interval(r.get("daf_ci95"), lambda v: fmt(v, 2))}
            for r in rounds]


def daf_figure(rounds: list[dict]):
    """DAF per round with its 95 % interval, and a dashed line at DAF = 1 (the model picks no better than
    random); None when no round has a DAF."""
    import plotly.graph_objects as go

    shown = [r for r in rounds if r.get("daf") is not None]
    if not shown:
        return None
    y = [r["daf"] for r in shown]
    figure = go.Figure(go.Scatter(
        x=[_label(r) for r in shown], y=y, mode="lines+markers", name="DAF (hit rate / prevalence)",
        marker={"color": "#48c78e", "size": 9}, line={"color": "#48c78e"},
        error_y=_errors(y, [r.get("daf_ci95") for r in shown]), hovertemplate="DAF %{y:.2f}<extra>%{x}</extra>"))
    figure.add_hline(y=1, line_dash="dash", line_color="grey", annotation_text="DAF = 1 (no better than random)",
                     annotation_position="bottom right")
    _layout(figure, xaxis={"type": "category", "categoryorder": "array",
                           "categoryarray": [_label(r) for r in rounds]},
            yaxis={"title": "discovery acceleration factor", "rangemode": "tozero"})
    return figure


def screening_mae_rows(rounds: list[dict]) -> list[dict]:
    """The screening MAE table: the ensemble's error on each round's evaluated candidates (meV/atom) before it
    trained on them, its 95 % interval, the number of candidates and the ensemble that screened them."""
    return [{"round": _label(r), "mae": fmt(r.get("screening_mae_ev_per_atom"), 1, 1000),
             "mae_ci95": _interval(r.get("screening_mae_ci95"), lambda v: fmt(v, 1, 1000)),
             "n": _count(r.get("screening_mae_n")), "screened_with": r.get("screened_with") or "—"} for r in rounds]


def screening_mae_figure(rounds: list[dict]):
    """Screening MAE per round (meV/atom) with its 95 % interval; None when no round has measured it."""
    import plotly.graph_objects as go

    shown = [r for r in rounds if r.get("screening_mae_ev_per_atom") is not None]
    if not shown:
        return None
    y = [_mev(r["screening_mae_ev_per_atom"]) for r in shown]
    figure = go.Figure(go.Scatter(
        x=[_label(r) for r in shown], y=y, mode="lines+markers", name="Screening MAE", marker={"size": 9},
        error_y=_errors(y, [r.get("screening_mae_ci95") for r in shown], 1000.0),
        customdata=[[_count(r.get("screening_mae_n")), r.get("screened_with") or "—"] for r in shown],
        hovertemplate="MAE %{y:.1f} meV/atom on %{customdata[0]} candidates<br>screened with %{customdata[1]}"
                      "<extra>%{x}</extra>"))
    _layout(figure, showlegend=False, xaxis={"type": "category", "categoryorder": "array",
                                             "categoryarray": [_label(r) for r in rounds]},
            yaxis={"title": "MAE of formation energy (meV/atom)", "rangemode": "tozero"})
    return figure


def new_stable_rows(rounds: list[dict]) -> list[dict]:
    """The new stable table: each round's new stable materials, on complete and on incomplete hulls."""
    return [{"round": _label(r), "complete": _count(r.get("new_stable_complete")),
             "incomplete": _count(r.get("new_stable_incomplete")), "new_stable": _count(r.get("new_stable"))}
            for r in rounds]


def new_stable_figure(rounds: list[dict]):
    """New stable materials per round as stacked bars: on a complete hull, on an incomplete one, and (only when
    the document leaves some unsplit) of unknown completeness; None when no round has counted them."""
    import plotly.graph_objects as go

    shown = [r for r in rounds if r.get("new_stable") is not None]
    if not shown:
        return None
    unknown = [r["new_stable"] - (r.get("new_stable_complete") or 0) - (r.get("new_stable_incomplete") or 0)
               for r in shown]
    figure = go.Figure()
    for name, y, colour in (("Complete hull", [r.get("new_stable_complete") for r in shown], HULL_COLOURS["complete"]),
                            ("Incomplete hull", [r.get("new_stable_incomplete") for r in shown],
                             HULL_COLOURS["incomplete"]),
                            ("Completeness unknown", unknown if any(u > 0 for u in unknown) else None,
                             HULL_COLOURS["unknown"])):
        if y is not None:
            figure.add_trace(go.Bar(x=[_label(r) for r in shown], y=y, name=name, marker_color=colour,
                                    hovertemplate=f"{name}: %{{y}}<extra>%{{x}}</extra>"))
    _layout(figure, barmode="stack", bargap=0.35,
            xaxis={"type": "category", "categoryorder": "array", "categoryarray": [_label(r) for r in rounds]},
            yaxis={"title": "new stable materials", "rangemode": "tozero"})
    return figure


def scaling_rows(scaling: list[dict]) -> list[dict]:
    """The scaling table: after each round, the candidates trained on, the test MAE on held-out candidates
    (meV/atom), its 95 % interval, the test set's size and the checkpoint."""
    return [{"round": _count(s.get("round")), "training_candidates": _count(s.get("training_candidates")),
             "test_mae": fmt(s.get("test_mae_ev_per_atom"), 1, 1000),
             "test_mae_ci95": _interval(s.get("test_mae_ci95"), lambda v: fmt(v, 1, 1000)),
             "test_n": _count(s.get("test_n")), "checkpoint": s.get("checkpoint") or "—"} for s in scaling]


def _on_log_axes(s: dict) -> bool:
    return (s.get("training_candidates") or 0) > 0 and (s.get("test_mae_ev_per_atom") or 0) > 0


def scaling_figure(scaling: list[dict]):
    """Test MAE (meV/atom, held-out candidates) against the evaluated candidates trained on, log-log, with the
    95 % intervals as error bars; None when no point has positive values to place on log axes."""
    import plotly.graph_objects as go

    shown = [s for s in scaling if _on_log_axes(s)]
    if not shown:
        return None
    y = [_mev(s["test_mae_ev_per_atom"]) for s in shown]
    figure = go.Figure(go.Scatter(
        x=[s["training_candidates"] for s in shown], y=y, mode="markers+lines", name="Test MAE",
        marker={"size": 9, "color": "#485fc7"}, error_y=_errors(y, [s.get("test_mae_ci95") for s in shown], 1000.0),
        customdata=[[_count(s.get("round")), _count(s.get("test_n")), s.get("checkpoint") or "—"] for s in shown],
        hovertemplate="after round %{customdata[0]} (%{customdata[2]})<br>%{x} candidates trained on<br>"
                      "test MAE %{y:.1f} meV/atom on %{customdata[1]} held-out candidates<extra></extra>"))
    _layout(figure, showlegend=False,
            xaxis={"title": "evaluated candidates trained on", "type": "log"},
            yaxis={"title": "test MAE, held-out candidates (meV/atom)", "type": "log"})
    return figure


def round_link_rows(rounds: list[dict]) -> list[dict]:
    """The rounds of a campaign with links to their discovery pages, the ensemble that screened each and the
    checkpoint fine-tuned after it."""
    rows = []
    for r in rounds:
        retrained = r.get("retrained") or {}
        activated = retrained.get("activated")
        rows.append({
            "index": r["index"], "round": "—" if r.get("round_id") is None else
            f"[#{r['round_id']}]({discovery_href(r['round_id'])})",
            "status": discovery.status_label(r.get("status") or ""), "stage": discovery.stage_label(r.get("stage") or ""),
            "screened_with": r.get("screened_with") or "—", "checkpoint": retrained.get("checkpoint") or "—",
            "trained": _count(retrained.get("candidates_trained")),
            "activated": "—" if activated is None else _value(activated),
            "reasons": "; ".join(retrained.get("reasons") or []) or "—",
        })
    return rows


def _last(rounds: list[dict], key: str) -> dict | None:
    return next((r for r in reversed(rounds) if r.get(key) is not None), None)


def campaign_rows(docs: list[dict]) -> list[dict]:
    """Rows of the campaigns table (same order as ``docs``): status, rounds done, the last measured hit rate and
    DAF (with its 95 % interval) and the new stable materials of all rounds."""
    rows = []
    for doc in docs:
        rounds = _rounds(doc)
        hit, daf = _last(rounds, "hit_rate"), _last(rounds, "daf")
        counted = [r["new_stable"] for r in rounds if r.get("new_stable") is not None]
        daf_text = "—" if daf is None else fmt(daf["daf"], 2) + (
            f" ({_interval(daf['daf_ci95'], lambda v: fmt(v, 2))})" if daf.get("daf_ci95") else "")
        rows.append({
            "id": f"[#{doc['id']}]({campaign_href(doc['id'])})", "name": doc.get("name") or "—",
            "status": _status(doc.get("status")),
            "rounds": f"{_count(doc.get('rounds_done'))} of {_count(doc.get('rounds_planned'))}",
            "hit_rate": "—" if hit is None else percent(hit["hit_rate"]), "daf": daf_text,
            "new_stable": sum(counted) if counted else "—",
        })
    return rows


def _data_table(id_: str, columns: list[tuple[str, str]], rows: list[dict], markdown: tuple[str, ...] = (),
                left: tuple[str, ...] = ()):
    return dash_table.DataTable(
        id=id_, data=rows,
        columns=[{"id": c, "name": n, "presentation": "markdown"} if c in markdown else {"id": c, "name": n}
                 for c, n in columns],
        page_action="native", page_size=20, style_table={"overflowX": "auto"},
        style_cell={"fontFamily": "inherit", "fontSize": "0.85rem", "padding": "4px", "whiteSpace": "normal",
                    "height": "auto"},
        style_cell_conditional=[{"if": {"column_id": c}, "textAlign": "left"} for c in left],
        markdown_options={"link_target": "_self"})


def campaigns_table(docs: list[dict]):
    """Every campaign in ``docs`` as a table, each linking to its page."""
    return _data_table("campaigns-table", CAMPAIGN_COLUMNS, campaign_rows(docs), markdown=("id",),
                       left=("id", "name", "status"))


def campaigns_block(docs: list[dict]):
    """The short "Campaigns" block of the discovery page: the campaigns table, or a notice that there are none."""
    return html.Div(id="campaigns-block", style={"marginBottom": "1.5rem"}, children=[
        html.H2([dcc.Link("Campaigns", href=campaign_href())], className="title is-5"),
        html.P("A campaign runs discovery rounds in a row and fine-tunes the GNN screening ensemble (machine-learned) "
               "on every candidate evaluated so far after each round.", className="is-size-7"),
        campaigns_table(docs) if docs else
        notice("No campaigns yet; admins start them from the admin panel.", "info", "no-campaigns"),
    ])


def _section(title: str, note: str, figure, graph_id: str, table_id: str, columns, rows, empty: str, empty_id: str):
    """A plot with the table of its numbers beside it, or a notice when nothing is measured yet."""
    blocks = [html.H2(title, className="title is-5", style={"marginTop": "1.5rem"}),
              html.P(note, className="is-size-7")]
    if figure is None:
        return html.Div([*blocks, notice(empty, "info", empty_id)])
    return html.Div([*blocks, html.Div(className="columns", children=[
        html.Div(className="column is-7", children=dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG)),
        html.Div(className="column is-5", children=_data_table(table_id, columns, rows, left=("round",))),
    ])])


def _config_table(config: dict):
    rows = []
    for key, value in config.items():
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            rows.append((key, value))
    return html.Table(id="campaign-config", className="table is-narrow is-fullwidth", children=html.Tbody([
        html.Tr([html.Th(html.Code(k)), html.Td(_value(v))]) for k, v in rows]))


def campaign_detail(doc: dict):
    """A campaign's page from its document: header, configuration, rounds and the five plots with their tables."""
    rounds = _rounds(doc)
    when = _when(doc.get("created_at")) + (f" by {doc['created_by']}" if doc.get("created_by") else "")
    header = table([
        ("Progress", doc.get("progress") or "—"),
        ("Rounds done", f"{_count(doc.get('rounds_done'))} of {_count(doc.get('rounds_planned'))}"),
        ("Base model", doc.get("base_model")), ("Current model", doc.get("current_model")),
        ("Energies", doc.get("energies")), ("Licence", doc.get("licence")),
        ("Created", when), ("Started", _when(doc.get("started_at"))), ("Finished", _when(doc.get("finished_at"))),
    ], "campaign-summary")
    measured = "No round of this campaign has been measured yet."
    return html.Div(id="campaign-detail", children=[
        html.P(dcc.Link("← all campaigns", href=campaign_href()), className="is-size-7"),
        html.H1([f"Campaign #{doc['id']} {doc.get('name') or ''}".strip(),
                 html.Span(_status(doc.get("status")), className=f"tag {STATUS_TAGS.get(doc.get('status'), '')}",
                           style={"marginLeft": "0.75rem"})], className="title is-4", id="campaign-title"),
        html.P(doc.get("progress") or "no progress reported", className="is-size-7", id="campaign-progress"),
        notice(f"The campaign failed: {doc['error']}", "danger", "campaign-error") if doc.get("error") else None,
        html.Div(className="columns", children=[
            html.Div(className="column is-7", children=[html.H2("Summary", className="title is-6"), header]),
            html.Div(className="column is-5", children=[html.H2("Configuration", className="title is-6"),
                                                        _config_table(doc.get("config") or {})]),
        ]),
        html.H2("Rounds", className="title is-5"),
        _data_table("campaign-rounds", ROUND_COLUMNS, round_link_rows(rounds), markdown=("round",),
                    left=("round", "status", "stage", "screened_with", "checkpoint", "reasons"))
        if rounds else notice("No round of this campaign has started yet.", "info", "no-campaign-rounds"),
        _section("Hit rate and prevalence per round",
                 "Hit rate: the stable share of the model's picks; prevalence: the stable share of the random control. "
                 "Error bars: 95 % Wilson intervals. Stable by the evaluator's energies (machine-learned potential, "
                 "not DFT).", hit_rate_figure(rounds), "campaign-hit-rate", "campaign-hit-rate-table",
                 HIT_RATE_COLUMNS, hit_rate_rows(rounds), measured, "no-hit-rate"),
        _section("Discovery acceleration factor per round",
                 "DAF: hit rate / prevalence, with its 95 % Katz (log) interval; the dashed line is DAF = 1, a model "
                 "that picks no better than random.", daf_figure(rounds), "campaign-daf", "campaign-daf-table",
                 DAF_COLUMNS, daf_rows(rounds), "No round has a DAF yet (it needs stable candidates in the control).",
                 "no-daf"),
        _section("Screening error per round",
                 f"MAE of the {PREDICTED_LABEL} on each round's evaluated candidates, measured before it was "
                 f"fine-tuned on them, against {EVALUATED_LABEL}; 95 % interval and n candidates.",
                 screening_mae_figure(rounds), "campaign-mae", "campaign-mae-table", MAE_COLUMNS,
                 screening_mae_rows(rounds), measured, "no-screening-mae"),
        _section("New stable materials per round",
                 "Split by hull completeness. A 'stable' material in a system whose hull holds few compounds "
                 "(incomplete hull) is a weaker claim: it may be stable only against the elements.",
                 new_stable_figure(rounds), "campaign-new-stable", "campaign-new-stable-table", NEW_STABLE_COLUMNS,
                 new_stable_rows(rounds), measured, "no-new-stable"),
        _section("Test error against training data",
                 f"Test MAE of the {PREDICTED_LABEL} on held-out evaluated candidates (labels from "
                 f"{EVALUATED_LABEL}) against the evaluated candidates it was fine-tuned on, log-log; error bars: "
                 "95 % intervals, n: the test set.", scaling_figure(doc.get("scaling") or []), "campaign-scaling",
                 "campaign-scaling-table", SCALING_COLUMNS, scaling_rows(doc.get("scaling") or []),
                 "The ensemble has not been fine-tuned in this campaign yet.", "no-scaling"),
    ])


def campaigns_page(campaign_id: str | None = None):
    """Every campaign (/explorer/discovery/campaigns) or, for ``campaign_id`` (the URL's
    /explorer/discovery/campaigns/<id>), that campaign's page."""
    back = html.P(dcc.Link("← all campaigns", href=campaign_href()), className="is-size-7")
    if campaign_id not in (None, ""):
        if not str(campaign_id).isdigit():
            return html.Div([back, notice(f"No campaign {campaign_id!r}: campaign ids are whole numbers.", "warning",
                                          "campaign-not-found")])
        doc = discovery.campaign_document(int(campaign_id))
        if doc is None:
            return html.Div([back, notice(f"No campaign #{int(campaign_id)}.", "warning", "campaign-not-found")])
        return campaign_detail(doc)
    docs = discovery.campaign_documents()
    return html.Div([
        html.P(dcc.Link("← discovery rounds", href=discovery_href()), className="is-size-7"),
        html.H1("Active-learning campaigns", className="title is-4"),
        html.P("A campaign runs several discovery rounds in a row; after each round the GNN screening ensemble "
               "(machine-learned) is fine-tuned on every candidate evaluated so far, with energies from a "
               "machine-learned potential (not DFT).", className="is-size-7", style={"marginBottom": "1rem"}),
        campaigns_table(docs) if docs else
        notice("No campaigns yet; admins start them from the admin panel.", "info", "no-campaigns"),
    ])
