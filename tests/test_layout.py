"""The layout's rules, read from the import graph of src/deepae (no module is imported to check them).

- The core (``models``, ``train``, ``data``) never imports the outer layers (``apps``, ``cli``, ``report``,
  ``runs``, ``api``), and nothing in the core or the library imports ``apps`` or ``cli`` except
  themselves.
- Nothing in ``src/`` imports ``bench``, ``examples`` or ``tests``.
- An application reaches the rest of deepae through public names: no ``_private`` name of another
  package (``deepae._io``, the shared file helpers, is public to the package by design).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "deepae"
CORE = ("models", "train", "data")
OUTER = ("apps", "cli", "report", "runs", "api")
OUTSIDE = ("bench", "examples", "tests")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str | None = None) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) for every import statement of ``path`` (module ``module``)."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [alias.name for alias in node.names]
            found.append((target, names, node.lineno))
            # `from . import models` imports the submodule deepae.models
            found += [
                (f"{target}.{n}", [], node.lineno) for n in names if (SRC.parent / Path(*f"{target}.{n}".split("."))).exists()
            ]
    return found


def _graph() -> dict[str, list[tuple[str, list[str], int]]]:
    return {str(p.relative_to(SRC.parent)): _imports(p) for p in sorted(SRC.rglob("*.py"))}


def _area(module: str) -> str | None:
    """deepae.models.conv -> "models"; deepae.api -> "api"; anything outside deepae -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "deepae" and len(parts) > 1 else None


GRAPH = _graph()


def test_the_graph_sees_every_module():
    assert len(GRAPH) > 30 and "deepae/models/base.py" in GRAPH and "deepae/cli/__init__.py" in GRAPH


@pytest.mark.parametrize("file", [f for f in GRAPH if f.split("/")[1] in CORE])
def test_core_does_not_import_outer_layers(file):
    bad = [(m, line) for m, _, line in GRAPH[file] if _area(m) in OUTER]
    assert not bad, f"{file} imports an outer layer: {bad}"


@pytest.mark.parametrize("file", list(GRAPH))
def test_nothing_in_src_imports_bench_examples_or_tests(file):
    bad = [(m, line) for m, _, line in GRAPH[file] if m.split(".")[0] in OUTSIDE]
    assert not bad, f"{file} imports {bad}"


@pytest.mark.parametrize("file", [f for f in GRAPH if f.split("/")[1] not in ("apps", "cli")])
def test_only_the_cli_and_apps_import_apps(file):
    bad = [(m, line) for m, _, line in GRAPH[file] if _area(m) in ("apps", "cli")]
    assert not bad, f"{file} imports {bad}"


@pytest.mark.parametrize("file", [f for f in GRAPH if f.split("/")[1] == "apps"])
def test_apps_use_public_names(file):
    bad = []
    for module, names, line in GRAPH[file]:
        if _area(module) in (None, "apps") or module == "deepae._io":
            continue
        private = [p for p in module.split(".")[1:] if p.startswith("_")] + [n for n in names if n.startswith("_")]
        if private:
            bad.append((module, private, line))
    assert not bad, f"{file} reaches private names: {bad}"


def test_the_checker_catches_a_violation(tmp_path):
    # The rules above must be able to fail: a core module importing the CLI is caught.
    fake = tmp_path / "probe.py"
    fake.write_text("from ..cli import app\nfrom deepae.apps import tiling\n")
    found = _imports(fake, "deepae.models.probe")
    assert {_area(m) for m, _, _ in found} >= {"cli", "apps"}
