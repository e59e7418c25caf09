"""``python -m bench NAME [--quick] [--data-dir DIR] [--seeds N]`` and ``python -m bench readme-table``."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from . import BENCHMARKS
from ._core import DEFAULT_DATA, RESULTS, Context, LoadSampler, machine_info, readme_table, write_report


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                epilog="benchmarks: " + "; ".join(f"{b.name}: {b.description}" for b in BENCHMARKS.values()))
    p.add_argument("name", choices=[*BENCHMARKS, "readme-table"], help="benchmark to run, or readme-table")
    p.add_argument("--quick", action="store_true", help="smoke test: small data, few epochs (1-2 minutes)")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA,
                   help=f"folder holding mnist/, fashion-mnist/ (default {DEFAULT_DATA})")
    p.add_argument("--seeds", type=int, default=None, help="seeds per configuration (default: the benchmark's own)")
    p.add_argument("--out", type=Path, default=None, help=f"results folder (default {RESULTS}; {RESULTS}/quick with --quick)")
    p.add_argument("--shared", action="store_true", help="record that other work shared the machine during the run")
    args = p.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        p.error(f"--seeds={args.seeds}; expected an integer >= 1")
    if args.name != "readme-table" and not args.data_dir.is_dir():
        p.error(f"--data-dir {args.data_dir} is not a folder (expected one holding mnist/ and fashion-mnist/)")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.name == "readme-table":
        print(readme_table(args.out or RESULTS), end="")
        return 0
    # Quick runs are smoke tests: keep them away from the published results.
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    ctx = Context(args.name, quick=args.quick, data_dir=args.data_dir, seeds=args.seeds, out_dir=out,
                  command="python -m bench " + shlex.join(argv), shared=args.shared)
    started, machine, load = time.perf_counter(), machine_info(), LoadSampler()
    report = BENCHMARKS[args.name].run(ctx)
    write_report(ctx, report, started, machine, load.stop())
    print(ctx.path(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
