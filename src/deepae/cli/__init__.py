"""The ``deepae`` command: one thin module of commands per concern, found here at start-up.

Each public module of this package (``train``, ``apply``, ``describe``, and one per application)
defines ``app = typer.Typer()`` and its commands; they are added to the root ``deepae`` group in
module order, so a new concern is a new module and no central file changes.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

from .. import __version__
from ._base import Group, Settings

app = typer.Typer(
    cls=Group,
    name="deepae",
    help="Deep autoencoders: train, evaluate, export and report, from the command line.\n\n"
    "\b\nExample:\n  deepae demo --epochs 5\n  deepae report runs/demo",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# The order commands are listed in by --help; modules not named here follow alphabetically.
_FIRST = ("train", "apply", "describe")


def _version(value: bool) -> None:
    if value:
        print(f"deepae {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Hide progress bars and progress messages."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = Settings(debug=debug, quiet=quiet)


def _command_modules() -> list[str]:
    found = {m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")}
    return [m for m in _FIRST if m in found] + sorted(found - set(_FIRST))


for _name in _command_modules():
    _sub = importlib.import_module(f"{__name__}.{_name}").app
    app.registered_commands += _sub.registered_commands
    app.registered_groups += _sub.registered_groups


def main() -> None:
    """Console-script entry point."""
    app()
