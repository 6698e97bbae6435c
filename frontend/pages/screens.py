"""The screens page (/explorer/screens): the funnel of each family of interest (Li-ion conductors, layered
materials, Li-Mn oxides) from its latest run, as /api/v1/screens/ reports it (``hullapi.services``)."""

from __future__ import annotations

from dash import dcc, html

from hullapi import services as hull

from ..components import notice

__all__ = ["screens_page"]


def screens_page():
    import plotly.graph_objects as go

    blocks = [html.H1("Families of interest", className="title is-4")]
    for screen in hull.screen_documents():
        name, run = screen["name"], screen["latest_run"]
        blocks.append(html.H2(screen["title"], className="title is-5"))
        if run is None:
            blocks.append(notice(f"Not run yet: an admin starts it (admin: Screen runs) or manage.py run_screen {name}."))
            continue
        stages = run["stages"]
        figure = go.Figure(go.Funnel(y=[s["name"] for s in stages], x=[s["output"] for s in stages],
                                     textinfo="value"))
        figure.update_layout(height=60 + 45 * len(stages), margin={"l": 10, "r": 10, "t": 10, "b": 10})
        rows = [html.Tr([html.Td(s["name"]), html.Td(s["input"]), html.Td(s["passed"]), html.Td(s["failed"]),
                         html.Td(s["unknown"]), html.Td(s["output"])]) for s in stages]
        summary = run["summary"] or {}
        blocks.append(html.Div(className="columns", children=[
            html.Div(className="column is-6", children=dcc.Graph(figure=figure, config={"displaylogo": False})),
            html.Div(className="column is-6", children=[
                html.Table(className="table is-narrow", children=[html.Thead(html.Tr([html.Th(h) for h in (
                    "stage", "in", "passed", "failed", "unknown", "out")])), html.Tbody(rows)]),
                html.P(f"Candidates {summary.get('candidates', 0)}, passed with unknowns "
                       f"{summary.get('passed_with_unknowns', 0)}; run #{run['id']} on hull version "
                       f"{run['hull_version']}, criteria {run['criteria']}.", className="is-size-7"),
            ]),
        ]))
    return html.Div(blocks)
