"""Scaling benchmarks: more data than memory, more processes than one, a CPU shared with others.

- bigdata: one training epoch over a folder of 200,000 generated 28x28 PNGs (decoded in DataLoader
  workers) and over a 2 GB memory-mapped .npy; then 1,000,000 MNIST-sized rows encoded and decoded
  in batches; then 100,000 digits streamed into one ``.dae`` file by the digits codec and read back
  (its memory must stay flat). Each part runs in its own process, whose peak resident memory (its
  own VmHWM) must stay under 1.5 GB. The data is generated under /tmp and deleted afterwards.
- scale: samples/s of the seed demo's model with 1 and 2 processes (torch.distributed, gloo on
  the CPU: the Trainer's DDP path) and the DDP overhead; seconds per epoch on an idle machine and
  beside one busy single-threaded process (``python -c 'while True: pass'``), with the thread count
  deepae now adapts to the load and with the old fixed one-thread-per-core; the cost of saving
  resumable state every epoch.

No setting here was tuned: the models and batch sizes are the seed demo's (784-32-784, batch 256).
Every training runs in a fresh process, so thread pools start as a user's would.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._core import Context, Report, median, pyplot, register, save_figure

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB = 1536  # 1.5 GB
FULL = dict(pngs=200_000, npy_mb=2048, rows=1_000_000, dae_digits=100_000, epochs=3, reps=3, ddp_n=60_000, ddp_epochs=3)
# The shared-CPU runs measure the thread count deepae picks itself: a thread count set for the
# benchmark's own process (OMP_NUM_THREADS) must not reach them.
NO_THREAD_ENV = {"OMP_NUM_THREADS": None}
QUICK = dict(pngs=2_000, npy_mb=20, rows=20_000, dae_digits=400, epochs=1, reps=1, ddp_n=2_000, ddp_epochs=1)


# -- child processes --------------------------------------------------------------------------
def _run_child(task: str, args: dict[str, Any], env: dict[str, str | None] | None = None) -> dict[str, Any]:
    """Run ``_child(task, args)`` in a fresh interpreter; its JSON result plus its peak RSS in MB."""
    code = "import sys, json; from bench.scale import _child; _child(sys.argv[1], json.loads(sys.argv[2]))"
    environ = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}  # None: unset it
    proc = subprocess.Popen([sys.executable, "-c", code, task, json.dumps(args)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=environ)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, _ = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.scale child {task} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return {**result, "load": round(os.getloadavg()[0], 2)}


def _child(task: str, args: dict[str, Any]) -> None:
    result = globals()[f"_task_{task}"](**args)
    # The child's own peak resident set, read from its memory map (VmHWM). Not wait4's ru_maxrss: Linux
    # keeps that across exec, so it would report the parent's size at the fork (a whole pytest session).
    print(json.dumps({**result, "peak_rss_mb": round(_peak_rss_mb(), 1)}), flush=True)


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _model():
    import deepae

    params = deepae.get_preset("seed-demo").params
    model = deepae.create_model("dense", input_shape=(784,), code_size=params["code_size"], hidden=(),
                                code_activation="relu", output_activation="sigmoid")
    return model, deepae.Objective(loss="bce")


def _config(**kw):
    from deepae.train import TrainConfig

    return TrainConfig(batch_size=256, optimizer="adadelta", lr=1.0, progress=False, random_state=0, **kw)


def _mnist_rows(data_dir: str, n: int) -> np.ndarray:
    from deepae.data import load

    x = load("mnist", data_dir=Path(data_dir) / "mnist").x.reshape(-1, 784)
    return x[np.arange(n) % len(x)]


def _task_make_pngs(folder: str, n: int, data_dir: str, start: int) -> dict[str, Any]:
    from PIL import Image

    x = (_mnist_rows(data_dir, start + n)[start:] * 255).astype(np.uint8).reshape(-1, 28, 28)
    for i, img in enumerate(x, start):
        sub = Path(folder) / f"{i // 1000:04d}"
        sub.mkdir(exist_ok=True)
        Image.fromarray(img).save(sub / f"{i:06d}.png", compress_level=1)
    return {"written": len(x)}


def _task_make_npy(path: str, rows: int, data_dir: str) -> dict[str, Any]:
    x = _mnist_rows(data_dir, 60_000)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, 784))
    for s in range(0, rows, 60_000):
        out[s:s + 60_000] = x[: rows - s]
        out.flush()
    del out
    return {"rows": rows}


def _task_train_lazy(kind: str, path: str, workers: int) -> dict[str, Any]:
    from deepae.data import ArrayFile, ImageFiles
    from deepae.train import Trainer

    data = ImageFiles(path, mode="L", flat=True) if kind == "png" else ArrayFile(path)
    model, objective = _model()
    trainer = Trainer(model, objective, _config(epochs=1, num_workers=workers))
    start = time.perf_counter()
    history = trainer.fit(data)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the decoding workers, reaped
    return {"samples": len(data), "seconds": time.perf_counter() - start, "loss": history[-1]["loss"],
            "workers_peak_rss_mb": round(workers, 1)}


def _task_codes(path: str, rows: int) -> dict[str, Any]:
    """Encode and decode ``rows`` rows read in batches from the memory-mapped file (cycled): RSS along the way."""
    import torch

    from deepae.data import ArrayFile

    data, (model, _) = ArrayFile(path), _model()
    model.eval()
    trace, done, start = [], 0, time.perf_counter()
    with torch.no_grad():
        while done < rows:
            idx = (np.arange(done, min(done + 4096, rows)) % len(data)).tolist()
            codes = model.encode(torch.stack(data.__getitems__(idx)))
            model.decode(codes)
            done += len(idx)
            if done % (4096 * 25) < 4096 or done == rows:
                trace.append((done, round(_rss_mb(), 1)))
    return {"rows": rows, "seconds": time.perf_counter() - start, "rss_trace": trace}


def _task_dae(path: str, n: int, data_dir: str) -> dict[str, Any]:
    """Stream ``n`` MNIST digits (cycled) into one .dae file with the digits codec, then read it back image by
    image: seconds each way, and the resident memory along both (``trace``: (images done, MB), write then read)."""
    from deepae.apps.codec import DaeWriter, read_dae

    digits = _mnist_rows(data_dir, 60_000)
    digits = np.rint(np.multiply(digits, 255, out=digits), out=digits).astype(np.uint8).reshape(-1, 28, 28)
    every = max(1, n // 20)
    trace: dict[str, list] = {"write": [], "read": []}
    seconds: dict[str, float] = {}

    def done(part: str, count: int) -> None:
        if count % every == 0 or count == n:
            trace[part].append((count, round(_rss_mb(), 1)))

    start = time.perf_counter()
    with open(path, "wb") as fh, DaeWriter(fh, model="digits", quality=4) as writer:
        for i in range(n):
            writer.add(digits[i % len(digits)])
            done("write", i + 1)
    seconds["write"], start = time.perf_counter() - start, time.perf_counter()
    count = mismatched = 0
    with open(path, "rb") as fh:
        for count, image in enumerate(read_dae(fh), 1):
            mismatched += image.pixels.shape != (28, 28)
            done("read", count)
    seconds["read"] = time.perf_counter() - start
    return {"images": count, "bytes": os.path.getsize(path), "mismatched": mismatched, "write_seconds": seconds["write"],
            "read_seconds": seconds["read"], "seconds": seconds["write"] + seconds["read"], "trace": trace}


def _task_epochs(data_dir: str, n: int, epochs: int, threads: str, checkpoint: bool) -> dict[str, Any]:
    """The seed demo's training (MNIST, 784-32-784, Adadelta, batch 256): seconds per epoch."""
    from deepae.train import Checkpoint, Trainer, save_model, save_trainer_state

    x = _mnist_rows(data_dir, n)
    model, objective = _model()
    callbacks = []
    tmp = tempfile.mkdtemp(prefix="deepae-scale-")
    if checkpoint:
        def write(folder, trainer):
            save_model(folder, trainer.module)
            save_trainer_state(folder, trainer.state())
        callbacks.append(Checkpoint(tmp, write))
    trainer = Trainer(model, objective, _config(epochs=epochs, num_threads=None if threads == "adaptive" else 2),
                      callbacks=callbacks)
    try:
        history = trainer.fit(x)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    times = [h["time"] for h in history]
    return {"epoch_seconds": times, "threads": trainer.threads.used,
            "checkpoint_seconds": callbacks[0].seconds if callbacks else 0.0,
            "checkpoint_final_wait": callbacks[0].final_wait if callbacks else 0.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_rank(rank: int, world: int, port: int, data_dir: str, n: int, epochs: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    import torch.distributed as dist

    from deepae.train import Trainer

    x = _mnist_rows(data_dir, n)
    model, objective = _model()
    # several ranks: one fixed thread each, the launch the README gives for 2 ranks on 2 cores (OMP_NUM_THREADS=1)
    trainer = Trainer(model, objective, _config(epochs=epochs, device="cpu", num_threads=1 if world > 1 else None))
    history = trainer.fit(x)
    if rank == 0:
        Path(out).write_text(json.dumps({"epoch_seconds": [h["time"] for h in history], "threads": trainer.threads.used}))
    if dist.is_initialized():
        dist.barrier()  # no rank tears the group down while another still uses it (gloo aborts then)
        dist.destroy_process_group()


def _task_ddp(data_dir: str, n: int, epochs: int, world: int) -> dict[str, Any]:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        if world == 1:
            _ddp_rank(0, 1, 0, data_dir, n, epochs, str(out))
        else:
            try:
                mp.spawn(_ddp_rank, args=(world, _free_port(), data_dir, n, epochs, str(out)), nprocs=world, join=True)
            except mp.ProcessExitedException as exc:
                if not _teardown_abort(exc, out):
                    raise
                return {**json.loads(out.read_text()), "teardown_abort": f"rank {exc.error_index}"}
        return json.loads(out.read_text())


def _teardown_abort(exc: Exception, out: Path) -> bool:
    """Whether ``exc`` is gloo aborting a rank after the training ("terminate called without an active exception").

    Rank 0 writes its timings only once every epoch is done, so a SIGABRT with that file present came at the
    teardown. torch reports a signal as a negative ``exit_code`` (-6) beside ``signal_name``.
    """
    return getattr(exc, "signal_name", None) == "SIGABRT" and out.exists()


# -- bigdata ------------------------------------------------------------------------------------
@register("bigdata")
def bigdata(ctx: Context) -> Report:
    """One epoch over 200,000 PNGs and over a 2 GB memory-mapped array, 1M rows coded: peak RSS < 1.5 GB."""
    q = QUICK if ctx.quick else FULL
    data_dir = str(ctx.data_dir)
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="deepae-bigdata-", dir="/tmp"))
    try:
        folder = tmp / "pngs"
        folder.mkdir()
        ctx.log(f"bigdata: writing {q['pngs']:,} PNGs to {folder} ...")
        half = q["pngs"] // 2
        procs = [subprocess.Popen([sys.executable, "-c", "import sys, json; from bench.scale import _child; "
                                   "_child('make_pngs', json.loads(sys.argv[1]))",
                                   json.dumps(dict(folder=str(folder), n=n, data_dir=data_dir, start=s))], cwd=ROOT)
                 for s, n in ((0, half), (half, q["pngs"] - half))]
        if any(p.wait() for p in procs):
            raise RuntimeError("bigdata: writing the PNGs failed")
        r = _run_child("train_lazy", dict(kind="png", path=str(folder), workers=2))
        rows.append(_row(f"1 epoch, {r['samples']:,} PNG files (2 decoding workers)", r, r["samples"]))
        ctx.log(f"bigdata: {rows[-1]}; deleting the PNGs ...")
        shutil.rmtree(folder)
        npy = tmp / "big.npy"
        n_rows = q["npy_mb"] * 2**20 // (784 * 4)
        ctx.log(f"bigdata: writing a {q['npy_mb']} MB .npy ({n_rows:,} rows) ...")
        _run_child("make_npy", dict(path=str(npy), rows=n_rows, data_dir=data_dir))
        r = _run_child("train_lazy", dict(kind="npy", path=str(npy), workers=0))
        rows.append(_row(f"1 epoch, {npy.stat().st_size / 2**30:.2f} GiB memory-mapped .npy", r, r["samples"]))
        ctx.log(f"bigdata: {rows[-1]}")
        r = _run_child("codes", dict(path=str(npy), rows=q["rows"]))
        rows.append(_row(f"encode + decode {q['rows']:,} rows in batches of 4096", r, r["rows"]))
        trace = r["rss_trace"]
        npy.unlink()
        ctx.log(f"bigdata: {rows[-1]}; streaming {q['dae_digits']:,} digits into a .dae file and back ...")
        dae = _run_child("dae", dict(path=str(tmp / "digits.dae"), n=q["dae_digits"], data_dir=data_dir))
        if dae["images"] != q["dae_digits"] or dae["mismatched"]:
            raise RuntimeError(f"bigdata: the .dae file gave back {dae['images']} images ({dae['mismatched']} misshapen)")
        rows.append(_row(f"a .dae file of {dae['images']:,} digits: streamed write + read ({dae['bytes'] / 2**20:.1f} MiB, "
                         f"digits codec q4)", dae, 2 * dae["images"]))
        ctx.log(f"bigdata: {rows[-1]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fig, (ax, right) = pyplot().subplots(1, 2, figsize=(10, 3))
    ax.plot([t[0] for t in trace], [t[1] for t in trace], marker=".")
    ax.set(xlabel="rows encoded and decoded", ylabel="resident MB", title="Memory while coding rows in batches")
    ax.set_ylim(bottom=0)
    for part, points in dae["trace"].items():
        right.plot([t[0] for t in points], [t[1] for t in points], marker=".", label=part)
    right.set(xlabel="digits written, then read", ylabel="resident MB", title="Memory while streaming a .dae file")
    right.set_ylim(bottom=0)
    right.legend(loc="lower right")
    save_figure(fig, ctx.path(".png"))
    peak = max(max(r["peak RSS MB"], r["workers' peak RSS MB"] if r["workers' peak RSS MB"] != "—" else 0) for r in rows)
    flat = trace[-1][1] - trace[0][1] if len(trace) > 1 else 0.0
    # Growth from the first tenth of each pass on: the first images load the model and warm the allocator.
    dae_growth = max(points[-1][1] - points[1][1] if len(points) > 2 else 0.0 for points in dae["trace"].values())
    return Report(
        title="bigdata: training and coding data larger than memory, peak resident memory",
        rows=rows,
        headline=[_head("peak RSS of any part (MB)", peak, f"< {LIMIT_MB}", peak < LIMIT_MB),
                  _head("RSS growth over the coding run (MB)", round(flat, 1), "flat (< 50)", abs(flat) < 50),
                  _head(f"RSS growth while streaming {dae['images']:,} digits through one .dae file (MB)",
                        round(dae_growth, 1), "flat (< 50)", abs(dae_growth) < 50)],
        notes=["Peak RSS: each part's own process (its VmHWM); the PNG decoding workers' (each a process of its "
               "own) in their own column. Data written under /tmp and deleted after. No setting was tuned on these data.",
               "Model: the seed demo's 784-32-784 (Adadelta lr 1, batch 256), one epoch, Trainer reading a Dataset.",
               f".dae part: the 60,000 MNIST training digits, cycled, written one by one with DaeWriter (the shipped digits "
               f"codec, quality 4) to a file, then read back with read_dae, one chunk in memory at a time; samples/s "
               f"counts images written plus images read. Write {dae['write_seconds']:.0f} s, read "
               f"{dae['read_seconds']:.0f} s, {dae['bytes'] / dae['images']:.1f} bytes per digit. RSS growth: from a "
               "tenth of the way through each pass to its end (the first images load the model), the larger of the two."],
        plots=[ctx.path(".png").name],
        figures={"settings": q, "rss_trace": trace, "dae": dae},
    )


def _head(metric: str, ours: Any, target: str, met: bool, peer: Any = None) -> dict[str, Any]:
    ratio = round(ours / peer, 2) if isinstance(peer, (int, float)) and peer else None
    return {"metric": metric, "published": None, "ours": ours, "peer": peer, "ratio": ratio, "target": target, "met": met}


def _row(what: str, r: dict[str, Any], samples: int) -> dict[str, Any]:
    workers = r.get("workers_peak_rss_mb") or 0
    return {"part": what, "seconds": round(r["seconds"], 1), "samples/s": round(samples / r["seconds"]),
            "peak RSS MB": r["peak_rss_mb"], "workers' peak RSS MB": workers or "—",
            "under 1.5 GB": max(r["peak_rss_mb"], workers) < LIMIT_MB, "load": r["load"]}


# -- scale ------------------------------------------------------------------------------------
@register("scale")
def scale(ctx: Context) -> Report:
    """Samples/s with 1 and 2 processes (DDP, gloo), s/epoch idle vs one busy competitor, checkpoint cost."""
    q = QUICK if ctx.quick else FULL
    data_dir, rows, figures = str(ctx.data_dir), [], {"settings": q}
    ddp = {}
    for world in (1, 2):
        env = {"OMP_NUM_THREADS": "1"} if world == 2 else NO_THREAD_ENV  # two ranks on two cores: one thread each
        r = _run_child("ddp", dict(data_dir=data_dir, n=q["ddp_n"], epochs=q["ddp_epochs"], world=world), env=env)
        ddp[world] = q["ddp_n"] / median(r["epoch_seconds"])
        rows.append({"measure": f"{world} process{'es' if world > 1 else ''} (DDP gloo)" if world > 1 else "1 process",
                     "value": round(ddp[world]), "unit": "samples/s", "threads": str(r["threads"]), "load": r["load"]})
        ctx.log(f"scale: {world} process(es): {ddp[world]:.0f} samples/s (load {r['load']})")
    overhead = 1 - ddp[2] / (2 * ddp[1])
    rows.append({"measure": "DDP overhead (1 - speed-up / 2)", "value": round(overhead, 3), "unit": "", "threads": "",
                 "load": ""})
    # Shared CPU: paired and interleaved (idle, busy) runs per repetition; the old behaviour beside the new.
    shared: dict[tuple[str, bool], list[float]] = {}
    runs = []
    for rep in range(q["reps"]):
        for threads in ("adaptive", "fixed"):
            for busy in (False, True):
                hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
                try:
                    time.sleep(0.5 if busy else 0)
                    r = _run_child("epochs", dict(data_dir=data_dir, n=q["ddp_n"], epochs=q["epochs"], threads=threads,
                                                  checkpoint=False), env=NO_THREAD_ENV)
                finally:
                    if hog is not None:
                        hog.kill()
                        hog.wait()
                shared.setdefault((threads, busy), []).append(median(r["epoch_seconds"]))
                runs.append({"rep": rep, "threads": threads, "busy": busy, **r})
                ctx.log(f"scale: {threads}, {'busy' if busy else 'idle'}: {median(r['epoch_seconds']):.3f} s/epoch "
                        f"(threads {r['threads']}, load {r['load']})")
    figures["shared_runs"] = runs
    ratios = {}
    for threads, label in (("adaptive", "deepae now (threads adapt to the load)"), ("fixed", "before (2 threads fixed)")):
        idle, busy = median(shared[(threads, False)]), median(shared[(threads, True)])
        ratios[threads] = busy / idle
        rows.append({"measure": f"s/epoch idle, {label}", "value": round(idle, 3), "unit": "s", "threads": "", "load": ""})
        rows.append({"measure": f"s/epoch beside 1 busy process, {label}", "value": round(busy, 3), "unit": "s",
                     "threads": "", "load": ""})
        rows.append({"measure": f"busy / idle, {label}", "value": round(ratios[threads], 2), "unit": "x", "threads": "",
                     "load": ""})
    ck = _run_child("epochs", dict(data_dir=data_dir, n=q["ddp_n"], epochs=q["epochs"], threads="adaptive", checkpoint=True),
                    env=NO_THREAD_ENV)
    cost = ck["checkpoint_seconds"] / q["epochs"] / median(ck["epoch_seconds"])
    rows.append({"measure": "checkpoint every epoch: training-thread time per save / s per epoch", "value": round(cost, 4),
                 "unit": "fraction", "threads": str(ck["threads"]), "load": ck["load"]})
    idle_now, idle_before = median(shared[("adaptive", False)]), median(shared[("fixed", False)])
    return Report(
        title="scale: 1 vs 2 processes, a CPU shared with another process, checkpoint cost (seed demo model)",
        rows=rows,
        headline=[
            _head("busy/idle s/epoch, one competing process (peer: 2 fixed threads, as before)", round(ratios["adaptive"], 2),
                  "<= 2", ratios["adaptive"] <= 2, peer=round(ratios["fixed"], 2)),
            _head("idle s/epoch (peer: 2 fixed threads, as before)", round(idle_now, 3), "no slower",
                  idle_now <= idle_before * 1.05, peer=round(idle_before, 3)),
            _head("checkpoint every epoch: cost per epoch", round(cost, 4), "<= 0.05", cost <= 0.05),
        ],
        notes=["Every training runs in a fresh process. 'before' pins 2 threads (the previous default: one per core); "
               "'now' lets the Trainer pick one thread per core other processes leave idle (deepae.train._cpu).",
               "Shared-CPU runs are interleaved (idle, busy) within each repetition; the 1-minute load average at the "
               "end of each run is recorded beside it. Medians over the repetitions.",
               "Checkpoint cost: time the training thread spends per save (serializing; the writing and fsync run in a "
               "background thread) over the median epoch time."],
        figures=figures,
    )
