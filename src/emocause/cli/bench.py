"""`emocause bench ...`: benchmarks that write rows to benchmarks/results/, and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from emocause.bench.results import read_anchors, read_results, render_report, write_results
from emocause.cli import app

bench_app = typer.Typer(
    help="Run benchmarks (rows into benchmarks/results/) and render benchmarks/RESULTS.md.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")

BenchDir = Annotated[Path, typer.Option("--bench-dir", help="Folder holding results/ and anchors.yaml.")]


@bench_app.command("report")
def report(bench_dir: BenchDir = Path("benchmarks")) -> None:
    """Regenerate RESULTS.md from every results/*.json, with the published numbers beside ours."""
    rows = read_results(bench_dir / "results")
    anchors = read_anchors(bench_dir / "anchors.yaml")
    out = bench_dir / "RESULTS.md"
    out.write_text(render_report(rows, anchors), encoding="utf-8")
    Console().print(f"wrote {out} ({len(rows)} result rows, {len(anchors)} published numbers)")


@bench_app.command("baselines")
def baselines(
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the datasets.")
    ] = None,
) -> None:
    """Score the reference baselines (majority, random, self-cause, echo...) and write results/baselines.json."""
    from emocause.bench.baselines import run_baselines

    rows = run_baselines(data_root)
    path = write_results("baselines", rows, bench_dir / "results")
    Console().print(f"wrote {path} ({len(rows)} rows)")


@bench_app.command("model")
def model(
    path: Annotated[str, typer.Argument(help="A trained model: a run's best/ folder or a shipped name.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to score on.")],
    results: Annotated[str, typer.Option("--results", help="Write rows to <bench-dir>/results/NAME.json.")],
    split: Annotated[str, typer.Option("--split", "-s")] = "test",
    label: Annotated[
        str | None, typer.Option("--label", help="Model name in the rows (default: PATH).")
    ] = None,
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the datasets.")
    ] = None,
) -> None:
    """Score a trained understanding model (emotion, ECE, utterance causes, empathy causes) and time it."""
    from emocause.bench.understanding import bench_model

    rows = bench_model(path, dataset, split, label, data_root)
    out = write_results(results, rows, bench_dir / "results")
    console = Console()
    for row in rows:
        console.print(f"{row.task:20} {row.metric:28} {row.value:10.4f}  N={row.n}")
    console.print(f"wrote {out}")
