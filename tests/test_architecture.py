"""The import rules of the design (who may import whom), checked on the source: every import statement of every
module, module-level or inside a function (the project imports heavy libraries lazily), resolved to an absolute
module name.

- The science modules are pure: no Django, and of the project's own code only other pure modules.
- ``materials`` imports no other app; ``hullapi`` may import ``materials``; ``discovery`` may import both;
  nothing imports ``frontend`` except ``gnome_site`` (which mounts it).
- ``frontend`` reads the other apps only through their service modules (``<app>.services``, the functions the REST
  API answers with): never their models, views or API modules; and its own modules import one way (app -> pages ->
  components), with no cycle.

No database: this reads files.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("materials", "hullapi", "discovery", "frontend", "gnome_site")

# Who may import which of the project's apps (the design's layering); an app may always import itself.
ALLOWED = {
    "materials": set(),
    "hullapi": {"materials"},
    "discovery": {"materials", "hullapi"},
    "frontend": {"materials", "hullapi", "discovery"},
    "gnome_site": {"materials", "hullapi", "discovery", "frontend"},
}

# The pure science: they take and return pymatgen objects, arrays or tensors and never touch Django.
PURE = (
    "materials.science", "materials.dimensionality", "materials.readers", "materials.scale", "materials.rows",
    "materials.screens", "materials.fingerprint", "materials.chemsys",
    "hullapi.engine", "hullapi.electrochem",
    "discovery.screening", "discovery.gnn", "discovery.generation", "discovery.evaluation", "discovery.md",
    "discovery.structure_input", "frontend.search",
)
# The modules of another app that frontend may import (the first part of the name is the app).
SERVICE_MODULE = "services"
MAX_FRONTEND_LINES = 600

# A module declares itself pure when a sentence of its docstring's first paragraph starts with "pure"
# ("Pure, no Django.", ": pure, no Django", "Pure (no Django)"); "the pure hull engine" does not.
DECLARED_PURE = re.compile(r"(^|[.:]\s+)pure\b", re.IGNORECASE)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_pure(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PURE)


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, the source of ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x: x may be a submodule
                    found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
                    continue
            else:
                target = node.module or ""
                if target in APPS:  # from materials import services: a module of the app
                    found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
                    continue
            found.append((node.lineno, target))
    return found


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """What ``module`` (given its source) imports against the design's rules, one line each."""
    app = module.split(".")[0]
    out = []
    for line, target in imports_of(source, module, is_package=is_package):
        top = target.split(".")[0]
        where = f"{module}:{line} imports {target}"
        if is_pure(module):
            if top in ("django", "rest_framework", "celery", "django_filters", "drf_spectacular"):
                out.append(f"{where}: a pure science module imports a framework")
            elif top in APPS and not is_pure(target):
                out.append(f"{where}: a pure science module imports glue ({target} is not pure)")
        if top in APPS and top != app and top not in ALLOWED.get(app, set()):
            out.append(f"{where}: {app} may not import {top}")
        elif app == "frontend" and top in APPS and top != app and not is_service(target):
            out.append(f"{where}: frontend reads {top} only through {top}.{SERVICE_MODULE}")
    return out


def is_service(module: str) -> bool:
    parts = module.split(".")
    return len(parts) >= 2 and parts[1] == SERVICE_MODULE


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the modules of ``sources`` it imports (``sources``: module -> (source, is a package)); an import
    of a name inside a module counts as an import of that module."""
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        graph[module] = set()
        for _, target in imports_of(source, module, is_package=is_package):
            parts = target.split(".")
            known = next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in sources), None)
            if known is not None and known != module:
                graph[module].add(known)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as [a, b, ..., a], or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def frontend_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(), p.name == "__init__.py") for p in sorted((ROOT / "frontend").rglob("*.py"))}


def project_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_the_project_keeps_the_import_rules():
    found = []
    for path in project_modules():
        found += violations(path.read_text(), module_name(path), is_package=path.name == "__init__.py")
    assert not found, "\n".join(found)


def test_every_module_declared_pure_is_checked_as_pure():
    """A module whose docstring calls itself pure is held to it (so a new pure module cannot escape the rule)."""
    unlisted = []
    for path in project_modules():
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if DECLARED_PURE.search(doc.split("\n\n")[0]) and not is_pure(module_name(path)):
            unlisted.append(module_name(path))
    assert not unlisted, f"modules that say they are pure but are not in PURE: {unlisted}"


@pytest.mark.parametrize("module, source, expected", [
    ("materials.query", "from hullapi.engine import HullIndex\n", "materials may not import hullapi"),
    ("materials.query", "def f():\n    from discovery import rounds\n", "materials may not import discovery"),
    ("hullapi.api", "import discovery.rounds\n", "hullapi may not import discovery"),
    ("hullapi.api", "from frontend.app import app\n", "hullapi may not import frontend"),
    ("discovery.rounds", "from frontend.pages import discovery\n", "discovery may not import frontend"),
    ("discovery.gnn.model", "from django.db import models\n", "a pure science module imports a framework"),
    ("hullapi.engine", "def f():\n    from .models import HullRun\n", "hullapi.models is not pure"),
    ("discovery.generation.saps", "from ..rounds import run_inline\n", "discovery.rounds is not pure"),
    ("frontend.pages.material", "from materials.models import Material\n", "frontend reads materials only through"),
    ("frontend.pages.discovery", "def f():\n    from discovery.api import round_doc\n", "frontend reads discovery only"),
    ("frontend.pages.search", "from materials import query\n", "frontend reads materials only through materials.services"),
    ("frontend.app", "import hullapi.api\n", "frontend reads hullapi only through hullapi.services"),
    ("frontend.pages.screens", "from hullapi.screen_api import ScreenList\n", "frontend reads hullapi only through"),
])
def test_a_forbidden_import_is_caught(module, source, expected):
    """Adding any of these lines to the module named would fail the test above."""
    found = violations(source, module)
    assert any(expected in v for v in found), found


@pytest.mark.parametrize("module, source", [
    ("hullapi.api", "from materials.models import Material\n"),
    ("discovery.rounds", "from hullapi.engine import HullIndex\nfrom materials import query\n"),
    ("discovery.gnn.train", "from .model import GNoMEModel\nimport torch\n"),
    ("discovery.generation.saps", "from .candidates import Candidate\nfrom materials.science import parse\n"),
    ("gnome_site.urls", "from frontend.app import server\n"),
    ("frontend.pages.material", "from materials import services as catalogue\nfrom hullapi.services import FigureError\n"),
    ("frontend.pages.discovery", "from discovery import services\nfrom ..components import fmt\nimport plotly\n"),
])
def test_an_allowed_import_passes(module, source):
    assert violations(source, module) == []


def test_every_listed_pure_module_exists():
    names = {module_name(p) for p in project_modules()}
    assert [p for p in PURE if p not in names] == []


def test_the_frontend_has_no_import_cycle():
    graph = import_graph(frontend_sources())
    assert graph["frontend.app"] and graph["frontend.pages"]  # the graph is read (app -> pages -> page modules)
    assert find_cycle(graph) == []


def test_an_import_back_up_the_frontend_is_a_cycle():
    """Adding any of these lines to the module named would fail the test above."""
    for module, line in (("frontend.pages.search", "from ..app import create_app\n"),
                         ("frontend.components", "def f():\n    from .pages import material\n"),
                         ("frontend.pages.predict", "from . import discovery\n")):
        sources = frontend_sources()
        source, is_package = sources[module]
        sources[module] = (source + line, is_package)
        if module == "frontend.pages.predict":  # and the other way round: two pages importing each other
            other, package = sources["frontend.pages.discovery"]
            sources["frontend.pages.discovery"] = (other + "from .predict import run\n", package)
        cycle = find_cycle(import_graph(sources))
        assert cycle and cycle[0] == cycle[-1] and module in cycle, (module, cycle)


def test_no_frontend_module_is_over_600_lines():
    long = {module_name(p): n for p in (ROOT / "frontend").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_FRONTEND_LINES}
    assert long == {}
