"""Reading a Dash component tree in tests: every component, one by its id, and the text it shows."""

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


def has_id(tree, id_: str) -> bool:
    return any(getattr(c, "id", None) == id_ for c in walk(tree))


def text(component) -> str:
    """The visible text of a component and its children."""
    children = getattr(component, "children", None)
    parts = []
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if isinstance(child, Component):
            parts.append(text(child))
        elif isinstance(child, (str, int, float)):
            parts.append(str(child))
    return " ".join(parts)
