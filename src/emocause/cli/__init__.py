"""The `emocause` command line: one typer app, each subcommand a plain typed function."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from emocause.errors import EmocauseError

app = typer.Typer(
    name="emocause",
    help="Emotion-cause-aware empathetic dialogue: datasets, models, metrics, benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _register() -> None:
    # Imported here so that `emocause --help` stays fast and each module adds its own commands.
    from emocause.cli import analyze, bench, data, ecdd, evaluate, imagine, respond, serve, train  # noqa: F401


def main() -> None:
    """Entry point: user errors print one clear line and exit with status 2, never a traceback."""
    _register()
    try:
        app()
    except EmocauseError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(2)
