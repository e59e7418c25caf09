"""Reproductions of published autoencoder numbers and side-by-side comparisons with the tools
people use instead: ``python -m bench NAME`` writes ``bench/results/NAME.{md,json,png}``.

Each benchmark module registers itself with ``@register(NAME)``; importing it is all it takes.
"""

from . import code_size, efficiency, hinton, keras_blog, restore, seed_demo  # noqa: F401  (importing registers them)
from ._core import BENCHMARKS, Context, Report, register

__all__ = ["BENCHMARKS", "Context", "Report", "register"]
