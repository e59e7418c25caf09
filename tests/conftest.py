"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The verified benchmark data: ``$DEEPAE_SHARED_DATA``, else ``<repo>/../shared/data``; skip if absent."""
    default = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    path = Path(os.environ.get("DEEPAE_SHARED_DATA") or default)
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found (set DEEPAE_SHARED_DATA)")
    return path
