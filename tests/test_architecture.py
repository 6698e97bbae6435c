"""The import rules of the design (who may import whom), checked on the source: every import statement of every
module, module-level or inside a function (the project imports heavy libraries lazily), resolved to an absolute
module name.

- The science modules are pure: no Django, and of the project's own code only other pure modules.
- ``materials`` imports no other app; ``hullapi`` may import ``materials``; ``discovery`` may import both;
  nothing imports ``frontend`` except ``gnome_site`` (which mounts it).

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
    return out


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
    ("discovery.rounds", "from frontend import callbacks\n", "discovery may not import frontend"),
    ("discovery.gnn.model", "from django.db import models\n", "a pure science module imports a framework"),
    ("hullapi.engine", "def f():\n    from .models import HullRun\n", "hullapi.models is not pure"),
    ("discovery.generation.saps", "from ..rounds import run_inline\n", "discovery.rounds is not pure"),
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
])
def test_an_allowed_import_passes(module, source):
    assert violations(source, module) == []


def test_every_listed_pure_module_exists():
    names = {module_name(p) for p in project_modules()}
    assert [p for p in PURE if p not in names] == []
