"""What every ``deepae`` command shares: one-line errors, settings, formatting, option helpers.

Every user error becomes one line on stderr and exit code 2; ``deepae --debug CMD`` shows the
traceback instead.
"""

from __future__ import annotations

import enum
import importlib
import io
import os
import sys
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from ..errors import DeepAEError
from ..metrics import LABELS

# Click's usage errors: Typer >= 0.2x vendors Click and raises them as TyperException, older Typer as Click's.
_ClickError = getattr(typer, "TyperException", None) or importlib.import_module("click").ClickException


@dataclass
class Settings:
    debug: bool = False
    quiet: bool = False


_WORKER_TRACEBACK = "Original Traceback (most recent call last):"


def one_line(message: Any) -> str:
    """The message on one line. A DataLoader worker's error comes back with the worker's traceback in its
    message (torch re-raises it so): its last line, the error's own message, is kept."""
    text = str(message)
    if _WORKER_TRACEBACK in text:
        last = text.strip().splitlines()[-1]  # "deepae.errors.DataError: photo.png: image is 8x8 ..."
        text = last.split(": ", 1)[-1]
    return " ".join(text.split())


def _exit_code(exc: BaseException) -> int:
    """2 for what a user can fix (bad values, files, data, a diverging run), 1 for a bug."""
    # ValueError: scikit-learn's input validation; OSError: unreadable or unwritable files, full disks
    user = (DeepAEError, ValueError, OSError, FloatingPointError)
    return 2 if isinstance(exc, user) else 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so Python's final flush does not fail on the closed pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


class Group(TyperGroup):
    """Turns exceptions into one line on stderr and an exit code, unless --debug."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, _ClickError):
            raise
        except Exception as exc:
            if isinstance(ctx.obj, Settings) and ctx.obj.debug:
                raise
            if isinstance(exc, BrokenPipeError):  # `deepae models | head`: the reader left; no error to report
                _silence_stdout()
                raise typer.Exit(1) from None
            code = _exit_code(exc)
            message = (
                one_line(exc)
                if code == 2
                else f"internal error: {type(exc).__name__}: {one_line(exc)} (rerun with --debug for the traceback)"
            )
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(code) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        # Click's usage errors (unknown option, bad value, missing argument) get the same one-line form.
        try:
            code = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except _ClickError as exc:
            code = getattr(exc, "exit_code", 2)
            if type(exc).__name__ == "NoArgsIsHelpError":  # plain `deepae`: the help, not an error
                print(exc.format_message())
                code = 0
            else:
                where = getattr(getattr(exc, "ctx", None), "command_path", "deepae")
                print(f"error: {one_line(exc.format_message())} (see '{where} --help')", file=sys.stderr)
        except typer.Abort:
            print("aborted", file=sys.stderr)
            code = 1
        code = code if isinstance(code, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)


console = Console(highlight=False)

def get_settings(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj or Settings()


def notifier(settings: Settings):
    """The ``notify`` callback of deepae.runs: progress messages, silenced by --quiet."""
    return (lambda _: None) if settings.quiet else (lambda msg: console.print(f"[dim]{msg}[/dim]"))


def warn(msg: str) -> None:
    console.print(f"[yellow]note:[/yellow] {msg}")


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(LABELS.get(key, key), fmt(value))
    return table


def between(low: float, high: float | None, shown: str, low_open: bool = True):
    """An option callback refusing values outside (low, high), or [low, high) with ``low_open=False``."""

    def check(value: float | None) -> float | None:
        if value is None:
            return value
        above = value > low if low_open else value >= low
        if not (above and (high is None or value < high)):
            raise typer.BadParameter(f"{value} is not in the range {shown}")
        return value

    return check


def value(v: Any) -> Any:
    """An option's plain value (enum members become their strings)."""
    return v.value if isinstance(v, enum.Enum) else v


def choices(name: str, values) -> type[enum.Enum]:
    """A string enum of ``values``, so --help lists the choices and a typo is refused."""
    return enum.Enum(name, [(v, v) for v in values], type=str)


class Split(str, enum.Enum):
    train = "train"
    test = "test"
    all = "all"


# Options and arguments several commands share.
RUN_DIR = typer.Argument(..., help="A run folder written by `deepae train` or `deepae demo`.")
SPLIT = typer.Option(Split.test, "--split", help="Split of a built-in data set.")
DATA_DIR = typer.Option(None, "--data-dir", help="Folder with MNIST/Fashion-MNIST files.")
FORCE_OUT = typer.Option(False, "--force", help="Overwrite an existing output.")
DATA = typer.Argument(..., help="Built-in data set (mnist, digits, ...), image file or folder, or .npy/.npz/.csv file.")
