"""Figures (matplotlib, rendered off-screen) and self-contained HTML reports of a run."""

from .figures import (
    as_images,
    code_map,
    loss_curves,
    per_class_bars,
    reconstruction_grid,
    to_png,
    vector_plot,
)
from .html import Block, Image, Report, Section, Table, Text, render

__all__ = [
    "Block",
    "Image",
    "Report",
    "Section",
    "Table",
    "Text",
    "as_images",
    "code_map",
    "loss_curves",
    "per_class_bars",
    "reconstruction_grid",
    "render",
    "to_png",
    "vector_plot",
]
