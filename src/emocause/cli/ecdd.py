"""`emocause ecdd ...`: synthesize emotion-cause dialogues with any LLM (EC-DD), and report on them."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from emocause.cli import app
from emocause.cli.analyze import DataRoot
from emocause.config import load_config
from emocause.errors import ConfigError
from emocause.training.recipes import parse_overrides

ecdd_app = typer.Typer(
    help="EC-DD: emotion-cause dialogues from ATOMIC seeds with a local LLM or an OpenAI-compatible server.",
    no_args_is_help=True,
)
app.add_typer(ecdd_app, name="ecdd")


@ecdd_app.command("run")
def run(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output .jsonl (ECC format); sidecars beside it.")],
    seeds: Annotated[
        str | None, typer.Option(help="'atomic' (the ATOMIC-2020 sample), or a .tsv / .jsonl seed file.")
    ] = None,
    relation: Annotated[
        list[str] | None, typer.Option("--relation", help="ATOMIC relations to seed from (default xReact).")
    ] = None,
    max_seeds: Annotated[
        int | None, typer.Option(min=1, help="Only the first N seeds of the shard (N >= 1); default: all.")
    ] = None,
    shard: Annotated[str | None, typer.Option(help="i/n: this machine's share of the seeds.")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Seeds (and requests) in flight.")] = None,
    model: Annotated[
        str, typer.Option(help="Local causal LM (hub id or folder), or the server's model name.")
    ] = "HuggingFaceTB/SmolLM2-135M-Instruct",
    base_url: Annotated[
        str | None,
        typer.Option(
            help="An OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1; default: run locally."
        ),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the server's API key, if it needs one.")
    ] = "OPENAI_API_KEY",
    timeout: Annotated[float, typer.Option(min=1, help="Seconds per request before it is retried.")] = 300.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries per request, with exponential backoff.")] = 4,
    rps: Annotated[
        float | None, typer.Option(min=0.01, help="At most this many requests per second.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML of EcddConfig fields.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override one EcddConfig field: key=value.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue OUT: seeds already kept or dropped are skipped.")
    ] = False,
    data_root: DataRoot = None,
) -> None:
    """Generate ECC-format dialogues; kill it at any time and continue with --resume."""
    from emocause.models.chat import ChatBackend, LocalChatBackend, OpenAIChatBackend
    from emocause.pipeline.ecdd.run import EcddConfig, run_ecdd

    given = {
        "seeds": seeds,
        "relations": relation,
        "max_seeds": max_seeds,
        "shard": shard,
        "concurrency": concurrency,
    }
    settings: Any = load_config(
        EcddConfig, config, {**parse_overrides(overrides or []), **{k: v for k, v in given.items() if v}}
    )
    backend: ChatBackend
    if base_url:
        backend = OpenAIChatBackend(
            base_url, model, api_key=os.environ.get(api_key_env), concurrency=settings.concurrency,
            timeout_s=timeout, retries=retries, requests_per_second=rps,
        )  # fmt: skip
    else:
        if rps is not None:
            raise ConfigError("--rps limits requests to a server; it needs --base-url")
        backend = LocalChatBackend(model, max_batch=settings.concurrency)
    console = Console()
    with Progress(
        TextColumn("[bold]ecdd[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
        TimeElapsedColumn(), console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("starting", total=None)
        counts = {"kept": 0, "dropped": 0, "failed": 0}

        def started(n: int) -> None:
            progress.update(task, total=n, description="kept 0, dropped 0, failed 0")

        def advanced(kind: str, _reason: str) -> None:
            counts[kind] += 1
            progress.update(task, advance=1, description=", ".join(f"{k} {v}" for k, v in counts.items()))

        async def main() -> Any:
            try:
                return await run_ecdd(settings, backend, out, resume=resume, data_root=data_root,
                                      on_outcome=advanced, on_start=started)  # fmt: skip
            finally:
                await backend.aclose()

        summary = asyncio.run(main())
    console.print_json(json.dumps(asdict(summary)))
    if summary.failed:
        console.print(
            f"[yellow]{sum(summary.failed.values())} seeds failed; run again with --resume to retry them[/]"
        )


@ecdd_app.command("report")
def report(
    files: Annotated[
        list[Path], typer.Argument(help="ECC-format .jsonl files written by `emocause ecdd run`.")
    ],
    results: Annotated[
        str | None, typer.Option(help="Also write the rows to <bench-dir>/results/NAME.json.")
    ] = None,
    bench_dir: Annotated[Path, typer.Option(help="Folder holding results/.")] = Path("benchmarks"),
    reference: Annotated[
        bool, typer.Option(help="Add the statistics of the real ECC dev and test files.")
    ] = True,
    data_root: DataRoot = None,
) -> None:
    """Dialogues, turns, words per utterance, MTLD, label validity, quality scores and run speed, beside the
    same statistics of the real ECC dev and test files."""
    from rich.table import Table

    from emocause.bench.results import write_results
    from emocause.data.ecc import FOLDER
    from emocause.pipeline.ecdd.report import report_rows
    from emocause.settings import data_root as resolve_root

    root = resolve_root(data_root)
    real = [
        (split, root / FOLDER / f"ECC_{name}_ALL.jsonl")
        for split, name in (("valid", "dev"), ("test", "test"))
    ]
    rows = report_rows(files, [(split, path) for split, path in real if reference and path.is_file()])
    table = Table(
        title="EC-DD data (ECC paper, Table 3: 13.0 turns, 22.0 words per utterance, MTLD 55.3; label score 4.2)"
    )
    for column in ("dataset", "split", "N", "metric", "value", "model"):
        table.add_column(column, justify="right" if column in ("N", "value") else "left")
    for row in rows:
        table.add_row(row.dataset, row.split, str(row.n), row.metric, f"{row.value:.4g}", row.model)
    console = Console()
    console.print(table)
    for row in rows:
        if row.metric == "turns_per_dialogue":
            console.print(f"[dim]{row.dataset} {row.split}: {row.notes}[/]")
    if results:
        console.print(f"wrote {write_results(results, rows, bench_dir / 'results')}")
