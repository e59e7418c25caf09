"""Reproductions of published autoencoder numbers and side-by-side comparisons with the tools
people use instead: ``python -m bench NAME`` writes ``bench/results/NAME.{md,json,png}``.

Each benchmark module registers itself with ``@register(NAME)``; importing it is all it takes.
"""

import importlib
from pathlib import Path

from ._core import BENCHMARKS, Context, Report, register

# Every public module of this folder that registers a benchmark is imported here, so a new benchmark
# is one new file and touches nothing central.
for _path in sorted(Path(__file__).parent.glob("[!_]*.py")):
    if "@register(" in _path.read_text():
        importlib.import_module(f"{__name__}.{_path.stem}")

__all__ = ["BENCHMARKS", "Context", "Report", "register"]
