"""What every benchmark shares: the registry, the run context, machine facts and the result files.

A benchmark is a function ``run(ctx) -> Report`` registered under a name; ``write_report`` turns
its ``Report`` into ``NAME.md`` (a table), ``NAME.json`` (every figure plus how and where it was
measured) beside the ``NAME*.png`` plots the benchmark drew itself.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data"


# -- registry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[["Context"], "Report"]
    description: str


BENCHMARKS: dict[str, Benchmark] = {}


def register(name: str) -> Callable:
    """Function decorator adding a benchmark under ``name``; its docstring's first line describes it."""

    def wrap(fn: Callable[["Context"], "Report"]) -> Callable:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} is already registered")
        BENCHMARKS[name] = Benchmark(name, fn, (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return wrap


# -- the run ----------------------------------------------------------------------------------
@dataclass
class Context:
    """One invocation of ``python -m bench NAME``: options, where data and results live."""

    name: str
    quick: bool = False
    data_dir: Path = DEFAULT_DATA
    seeds: int | None = None  # None: the benchmark's own default
    out_dir: Path = RESULTS
    command: str = ""
    shared: bool = False  # the machine was busy with other work during the run
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr, flush=True))
    _cache: dict = field(default_factory=dict, repr=False)

    def n_seeds(self, default: int) -> int:
        return self.seeds if self.seeds is not None else (1 if self.quick else default)

    def data(self, name: str, split: str, quick_n: int | None = None):
        """``deepae`` Dataset ``name``/``split`` from ``data_dir``; the first ``quick_n`` samples under --quick."""
        from deepae.data import load_dataset

        key = (name, split, quick_n if self.quick else None)
        if key not in self._cache:
            ds = load_dataset(name, split, data_dir=self.data_dir)
            self._cache[key] = ds.subset(quick_n) if self.quick and quick_n else ds
        return self._cache[key]

    def path(self, suffix: str) -> Path:
        """``out_dir/NAME<suffix>``, e.g. ``ctx.path(".png")``."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return self.out_dir / f"{self.name}{suffix}"


@dataclass
class Report:
    """What a benchmark found.

    ``headline`` rows feed ``python -m bench readme-table``: metric, published, ours, peer, ratio,
    target, met. ``rows`` are the Markdown table; ``figures`` everything else worth keeping.
    """

    title: str
    rows: list[dict[str, Any]]
    headline: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)  # file names written beside NAME.md
    peer_versions: dict[str, str] = field(default_factory=dict)


# -- measuring --------------------------------------------------------------------------------
class Timer:
    """``with Timer() as t: ...; t.seconds`` -- wall-clock seconds of the block."""

    def __enter__(self) -> "Timer":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start


def median(values) -> float:
    return float(statistics.median(values))


def mean_std(values) -> tuple[float, float]:
    values = [float(v) for v in values]
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def squared_error_per_image(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Sum over pixels of (x - x_hat)^2, averaged over images: the measure of Hinton & Salakhutdinov."""
    diff = x.reshape(len(x), -1).astype(np.float64) - x_hat.reshape(len(x), -1)
    return float(np.mean(np.sum(diff * diff, axis=1)))


# -- machine facts ----------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU model and cores, memory, load -- what a reader needs to compare a number with their own."""
    import torch

    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "nice": os.nice(0),
    }
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
        info["load_avg_start"] = [round(v, 2) for v in os.getloadavg()]
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        pass
    return info


class LoadSampler:
    """The 1-minute load average every ``every`` seconds in a daemon thread: was the machine shared?

    The benchmark itself adds about as much load as it has threads; more than that is other work.
    """

    def __init__(self, every: float = 15.0):
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(every,), daemon=True)
        self._thread.start()

    def _sample(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(round(os.getloadavg()[0], 2))

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        s = self.samples or [round(os.getloadavg()[0], 2)]
        return {"samples": len(s), "mean": round(float(np.mean(s)), 2), "max": max(s)}


def versions() -> dict[str, str]:
    import sklearn
    import torch

    import deepae

    return {"python": platform.python_version(), "deepae": deepae.__version__, "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__}


# -- result files -----------------------------------------------------------------------------
def pyplot():
    """matplotlib.pyplot on the file-only Agg backend: benchmarks run headless."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path, tight: bool = True) -> None:
    """Write ``fig`` to ``path`` at the benchmarks' resolution and free it."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


# -- tables -----------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    """Numbers to ``digits`` significant figures; anything else as text; None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"
    return str(value)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A GitHub Markdown table whose columns are the keys of the first row."""
    if not rows:
        return "(no rows)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return value


def write_report(ctx: Context, report: Report, started: float, machine: dict[str, Any],
                 load: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write NAME.json and NAME.md under ``ctx.out_dir``; return the JSON document."""
    machine = {**machine, "load_avg_end": [round(v, 2) for v in os.getloadavg()], "load_1min_during_run": load}
    doc = {
        "benchmark": ctx.name,
        "title": report.title,
        "command": ctx.command,
        "quick": ctx.quick,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "machine": machine,
        "machine_shared": ctx.shared or is_shared(machine),
        "versions": versions(),
        "peer_versions": report.peer_versions,
        "headline": report.headline,
        "rows": report.rows,
        "figures": report.figures,
        "notes": report.notes,
        "plots": report.plots,
    }
    doc = _jsonable(doc)
    ctx.path(".json").write_text(json.dumps(doc, indent=1) + "\n")
    ctx.path(".md").write_text(_markdown(doc))
    return doc


def is_shared(machine: dict[str, Any]) -> bool:
    """Was other work running? Mean load during the run above the cores the benchmark keeps busy, plus slack."""
    load = machine.get("load_1min_during_run") or {}
    return bool(load) and load["mean"] > machine["cores_usable"] + 0.5


def _markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    load = m.get("load_1min_during_run") or {}
    shared = " The machine was shared with other work during the run." if doc["machine_shared"] else ""
    shared += f" Load average during the run: mean {load['mean']}, max {load['max']}." if load else ""
    peers = ", ".join(f"{k} {v}" for k, v in doc["peer_versions"].items())
    parts = [
        f"# {doc['title']}\n",
        f"`{doc['command']}` — {doc['date']}, {doc['wall_seconds']:.0f} s; {m['cpu_model']}, "
        f"{m['cores_usable']} cores, {m['torch_threads']} torch threads, torch {doc['versions']['torch']}"
        f"{', ' + peers if peers else ''}.{shared}"
        + (" **Quick mode: smoke test, not a result.**" if doc["quick"] else "") + "\n",
        markdown_table(doc["rows"]),
    ]
    if doc["headline"]:
        cols = ("metric", "published", "ours", "peer", "ratio", "target", "met")
        parts += ["## Targets\n", markdown_table([{k: r.get(k) for k in cols} for r in doc["headline"]])]
    parts += [f"- {note}" for note in doc["notes"]]
    parts += [""] + [f"![{p}]({p})" for p in doc["plots"]]
    return "\n".join(parts) + "\n"


def readme_table(results_dir: Path = RESULTS) -> str:
    """One Markdown table over every NAME.json's headline rows, for the project README."""
    rows = []
    for path in sorted(results_dir.glob("*.json")):
        doc = json.loads(path.read_text())
        for h in doc.get("headline", []):
            rows.append({
                "benchmark": doc["benchmark"], "metric": h["metric"], "published": h.get("published"),
                "ours": h.get("ours"), "peer": h.get("peer"), "ratio": h.get("ratio"),
                "target": h.get("target"), "met": {True: "yes", False: "**no**"}.get(h.get("met")),
                "command": f"`{doc['command']}`",
            })
    return markdown_table(rows)
