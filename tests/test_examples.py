"""Every example's --quick mode runs on the real data and its claim still holds (exit code 0).

Each example is a script run as a subprocess, as a reader would run it; a claim that stops holding
makes the script exit non-zero with a ``CLAIM FAILED`` line. Skipped without the shared MNIST /
Fashion-MNIST files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("[0-9][0-9]_*.py"))


def test_every_claim_has_an_example():
    assert len(SCRIPTS) == 11
    assert [s[:2] for s in SCRIPTS] == [f"{i:02d}" for i in range(1, 12)]


@pytest.mark.parametrize("script", SCRIPTS)
def test_quick_mode_holds_its_claim(script, shared_data_dir, tmp_path):
    for name in ("mnist", "fashion-mnist"):
        if not (shared_data_dir / name / "train-images-idx3-ubyte.gz").is_file():
            pytest.skip(f"no {name} in {shared_data_dir}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DEEPAE_SHARED_DATA": str(shared_data_dir)}
    result = subprocess.run([sys.executable, str(EXAMPLES / script), "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "claim holds" in result.stdout
    figures = list(tmp_path.glob("*.png"))
    assert [f.name[:2] for f in figures] == [script[:2]]


@pytest.mark.parametrize("script", SCRIPTS)
def test_committed_figure_is_small(script):
    figure = EXAMPLES / "figures" / f"{Path(script).stem}.png"
    assert figure.is_file(), f"{figure.name} is missing: run python examples/{script} (without --quick) and commit it"
    assert figure.stat().st_size <= 300_000
