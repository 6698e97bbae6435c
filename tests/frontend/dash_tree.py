"""Reading a Dash component tree in tests: every component, and one by its id."""

from __future__ import annotations

from dash.development.base_component import Component


def walk(component):
    """Every component of a Dash tree."""
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if isinstance(child, Component):
            yield from walk(child)


def by_id(tree, id_: str):
    found = [c for c in walk(tree) if getattr(c, "id", None) == id_]
    assert found, f"no component {id_!r} on the page"
    return found[0]
