"""`emocause data ...`: check the datasets and look at examples."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from emocause.cli import app
from emocause.cli.render import render_dialogue, render_knowledge
from emocause.data import get_spec, load
from emocause.data.check import SplitReport, check_datasets, n_checks
from emocause.settings import DATA_ENV, data_root

data_app = typer.Typer(
    help="Check the datasets under the data root and print examples.", no_args_is_help=True
)
app.add_typer(data_app, name="data")

DataRoot = Annotated[
    Path | None,
    typer.Option(
        "--data-root",
        help=f"Folder holding the datasets (default: ${DATA_ENV}, else ../shared/data beside the checkout).",
    ),
]
_STATUS_STYLE = {"ok": "green", "missing": "red", "not offline": "yellow", "error": "bold red"}


def _table(reports: list[SplitReport], root: Path) -> Table:
    table = Table(title=f"Datasets under {root}", show_lines=False)
    for column in ("dataset", "split", "status", "records", "turns", "cause labels", "expected", "notes"):
        table.add_column(
            column,
            justify="right" if column in ("records", "turns", "cause labels", "expected") else "left",
            overflow="fold",
        )
    for r in reports:
        notes = r.notes or ([f"absent: {', '.join(r.missing_files)}"] if r.missing_files else [])
        expected = (
            ""
            if r.expected is None
            else (f"{r.expected:,}" + ("" if r.size_matches in (None, True) else " ✗"))
        )
        table.add_row(
            r.dataset, r.split, f"[{_STATUS_STYLE[r.status]}]{r.status}[/]",
            f"{r.records:,}" if r.status == "ok" else "", f"{r.turns:,}" if r.status == "ok" else "",
            f"{r.cause_labels:,}" if r.status == "ok" else "", expected, "; ".join(notes),
        )  # fmt: skip
    return table


@data_app.command("check")
def check(
    data_root_option: DataRoot = None,
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", "-d", help="Only these datasets (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """For each dataset and split: present or missing, counts (records, turns, labelled causes), problems.

    Exits with status 1 if a dataset that should be present is missing, fails to load or has the wrong size.
    """
    root = data_root(data_root_option)
    reports: list[SplitReport] = []
    with Progress(transient=True, disable=as_json) as progress:
        task = progress.add_task("checking datasets", total=n_checks(dataset))
        for report in check_datasets(root, dataset):
            reports.append(report)
            progress.update(task, advance=1, description=f"{report.dataset} {report.split}")
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in reports], indent=2))
    else:
        console = Console()
        console.print(_table(reports, root))
        offline = sorted({r.dataset for r in reports if r.status == "not offline"})
        if offline:
            console.print(
                f"[yellow]Not distributed offline:[/] {', '.join(offline)} (loaders tested on fixtures; place the files under the data root to use them)."
            )
    if any(r.status in ("missing", "error") or r.size_matches is False for r in reports):
        raise typer.Exit(1)


@data_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Dataset name, as listed by `emocause data check`.")],
    split: Annotated[
        str | None, typer.Option("--split", "-s", help="Split (default: the dataset's first).")
    ] = None,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="How many examples.")] = 3,
    start: Annotated[int, typer.Option("--start", min=0, help="Index of the first example.")] = 0,
    data_root_option: DataRoot = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """Pretty-print examples of a dataset: turns with roles and emotions, cause turns and spans highlighted."""
    spec = get_spec(name)
    result = load(name, split or spec.splits[0], data_root_option)
    records = (result.dialogues or result.knowledge)[start : start + n]
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in records], indent=2, ensure_ascii=False))
        return
    console = Console()
    for record in records:
        console.print(render_dialogue(record) if result.dialogues else render_knowledge(record))  # type: ignore[arg-type]
