"""Pieces every page of the explorer draws with: numbers with their missing value, notices, two-column tables,
and the sentence that says how complete a hull's binary systems are."""

from __future__ import annotations

import math

from dash import html

__all__ = ["completeness_text", "fmt", "notice", "percent", "table"]


def fmt(value, digits: int = 3, scale: float = 1.0) -> str:
    """``value * scale`` with ``digits`` decimals; "—" for a missing or non-finite value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value * scale:.{digits}f}"


def percent(value) -> str:
    """A share (0.75) as "75.0 %"; "—" when missing."""
    return "—" if value is None else f"{fmt(value, 1, 100)} %"


def notice(text: str, kind: str = "info", id_: str | None = None):
    """A Bulma notification: info, warning or danger."""
    props = {"id": id_} if id_ else {}
    return html.Div(text, className=f"notification is-{kind} is-light", **props)


def table(rows: list[tuple[str, object]], id_: str | None = None):
    """A narrow two-column table of (heading, value); a missing value shows as "—"."""
    props = {"id": id_} if id_ else {}
    return html.Table(className="table is-narrow is-fullwidth", **props, children=html.Tbody([
        html.Tr([html.Th(k), html.Td(v if v not in (None, "") else "—")]) for k, v in rows]))


def completeness_text(h: dict) -> str:
    """"binary hulls complete (3 of 3 hold a compound)", or which binaries hold nothing but their elements."""
    if not h or h.get("complete") is None:
        return "an element: no binary hulls"
    if h["complete"]:
        return f"binary hulls complete ({h['covered']} of {h['binaries']} hold a compound)"
    return (f"binary hulls incomplete: {h['covered']} of {h['binaries']} hold a compound (no compound in "
            f"{', '.join(h['missing'][:6])}{' ...' if len(h['missing']) > 6 else ''}), so 'stable' may be stable "
            "against the elements only")
