#!/usr/bin/env python3
"""Check that a deepae HTML report renders: self-contained, and not blank in headless Chromium.

    python scripts/check_report.py runs/demo/report.html [--screenshot shot.png] [--chromium PATH]

Exit status: 0 the page is self-contained and renders with content; 1 it does not; 2 it could not
be checked (no such report, no Chromium).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
WINDOW = (1280, 2400)
# src/href pointing anywhere but into the page itself (data: URIs and #anchors are fine)
_EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?!data:|#)([^"'\s>]+)""", re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*["']?(?!data:)([^"')]+)""", re.IGNORECASE)


def external_resources(html: str) -> list[str]:
    """Every resource the page would fetch: it must have none."""
    return _EXTERNAL.findall(html) + _CSS_URL.findall(html) + re.findall(r"@import\s+[^;]+", html)


def screenshot(report: Path, png: Path, chromium: str = CHROMIUM, timeout: float = 120) -> None:
    """Render ``report`` in headless Chromium, offline, into ``png``."""
    with tempfile.TemporaryDirectory(prefix="deepae-chromium-") as profile:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
            report.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def content_stats(png: Path) -> dict[str, float]:
    """How much of the screenshot differs from its background colour, and how many colours it has."""
    pixels = np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)
    flat = pixels.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    differs = np.abs(flat - background).sum(1) > 24
    return {"content_fraction": float(differs.mean()), "colours": int(len(colours)), "std": float(pixels.std())}


def check(report: Path, png: Path, chromium: str = CHROMIUM) -> list[str]:
    """Problems found with ``report`` (empty when it is fine); ``png`` receives the screenshot."""
    problems = []
    found = external_resources(report.read_text(encoding="utf-8"))
    if found:
        problems.append(f"the page loads external resources: {found[:5]}")
    if "data:image/png;base64," not in report.read_text(encoding="utf-8"):
        problems.append("the page embeds no PNG figure")
    screenshot(report, png, chromium)
    if not png.is_file():
        return problems + ["Chromium wrote no screenshot"]
    stats = content_stats(png)
    # A blank page is one colour; a report has text, tables and figures over a good share of it.
    if stats["content_fraction"] < 0.05 or stats["colours"] < 50:
        problems.append(f"the screenshot looks blank: {stats}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None, help="where to keep the screenshot (default: a temp file)")
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    if not args.report.is_file():
        print(f"error: report '{args.report}' does not exist", file=sys.stderr)
        return 2
    if not Path(args.chromium).is_file():
        print(f"error: Chromium not found at {args.chromium} (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        png = args.screenshot or Path(tmp) / "report.png"
        try:
            problems = check(args.report, png, args.chromium)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"error: Chromium failed: {exc}", file=sys.stderr)
            return 1
        for problem in problems:
            print(f"FAIL: {problem}", file=sys.stderr)
        if not problems:
            print(f"ok: {args.report} is self-contained and renders ({content_stats(png)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
