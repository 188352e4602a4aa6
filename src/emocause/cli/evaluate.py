"""`emocause evaluate`: score a predictions file against a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from emocause.bench.results import write_results
from emocause.cli import app
from emocause.evaluation import TASKS, evaluate_file


@app.command("evaluate")
def evaluate(
    predictions: Annotated[
        Path, typer.Argument(help="JSON-lines predictions (fields per task: see `emocause.evaluation`).")
    ],
    task: Annotated[str, typer.Option("--task", "-t", help=f"One of: {', '.join(TASKS)}.")],
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="Dataset whose gold labels to score against.")
    ],
    split: Annotated[str, typer.Option("--split", "-s", help="Split of the dataset.")] = "test",
    model: Annotated[str, typer.Option("--model", help="Model name written into result rows.")] = "unnamed",
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the datasets.")
    ] = None,
    allow_partial: Annotated[
        bool, typer.Option("--allow-partial", help="Score although some gold examples lack a prediction.")
    ] = False,
    with_bertscore: Annotated[
        bool, typer.Option("--bertscore", help="Also BERTScore (response task; MiniLM, slower).")
    ] = False,
    results: Annotated[
        str | None, typer.Option("--results", help="Also write the rows to <bench-dir>/results/NAME.json.")
    ] = None,
    bench_dir: Annotated[Path, typer.Option("--bench-dir", help="Folder holding results/.")] = Path(
        "benchmarks"
    ),
) -> None:
    """Score PREDICTIONS for a task against a dataset split and print the metrics (with N and definitions)."""
    evaluation = evaluate_file(
        task,
        predictions,
        dataset,
        split,
        data_root=data_root,
        allow_partial=allow_partial,
        with_bertscore=with_bertscore,
    )
    table = Table(title=f"{task} on {dataset} {split}")
    for column in ("metric", "value", "N", "definition"):
        table.add_column(column, justify="right" if column in ("value", "N") else "left")
    for score in evaluation.scores:
        table.add_row(score.metric, f"{score.value:.4f}", f"{score.n:,}", score.definition)
    console = Console()
    console.print(table)
    if evaluation.missing:
        console.print(f"[yellow]{evaluation.missing} gold examples had no prediction (partial scoring).[/]")
    if results:
        path = write_results(results, evaluation.rows(model), bench_dir / "results")
        console.print(f"wrote {path}")
