"""`emocause bench ...`: benchmarks that write rows to benchmarks/results/, and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from emocause.bench.results import ResultRow, read_anchors, read_results, render_report, write_results
from emocause.cli import app
from emocause.cli.analyze import DataRoot, Dtype, Engine, product_pipeline

bench_app = typer.Typer(
    help="Run benchmarks (rows into benchmarks/results/) and render benchmarks/RESULTS.md.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")

DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Dataset to score on.")]
ResultsOpt = Annotated[str, typer.Option("--results", help="Write rows to <bench-dir>/results/NAME.json.")]
SplitOpt = Annotated[str, typer.Option("--split", "-s")]
LabelOpt = Annotated[str | None, typer.Option("--label", help="Model name in the rows (default: PATH).")]
RepliesOpt = Annotated[str, typer.Option(help="every: each listener turn; last: each dialogue's last turn.")]
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
    data_root: DataRoot = None,
) -> None:
    """Score the reference baselines (majority, random, self-cause, echo...) and write results/baselines.json."""
    from emocause.bench.baselines import run_baselines

    rows = run_baselines(data_root)
    path = write_results("baselines", rows, bench_dir / "results")
    Console().print(f"wrote {path} ({len(rows)} rows)")


@bench_app.command("model")
def model(
    path: Annotated[str, typer.Argument(help="A trained model: a run's best/ folder or a shipped name.")],
    dataset: DatasetOpt,
    results: ResultsOpt,
    split: SplitOpt = "test",
    label: LabelOpt = None,
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """Score a trained understanding model (emotion, ECE, utterance causes, empathy causes) and time it."""
    from emocause.bench.understanding import bench_model

    _print_and_write(results, bench_model(path, dataset, split, label, data_root), bench_dir)


@bench_app.command("responder")
def responder(
    path: Annotated[
        str, typer.Argument(help="A trained responder (run's best/ or shipped name), or zero-shot.")
    ],
    dataset: DatasetOpt,
    results: ResultsOpt,
    split: SplitOpt = "test",
    label: LabelOpt = None,
    replies: RepliesOpt = "every",
    causes: Annotated[
        str, typer.Option(help="Cause sentences from the data, or from our ECE extractor.")
    ] = "data",
    n_perplexity: Annotated[int, typer.Option(help="Reference replies scored for perplexity.")] = 300,
    n_generate: Annotated[
        int, typer.Option(help="Replies generated and scored (a prefix of the above).")
    ] = 100,
    engine: Annotated[
        str, typer.Option("--engine", help="Engine generating the replies: transformers or llama.cpp.")
    ] = "transformers",
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """Score a responder: perplexity, BLEU/ROUGE/Distinct/BERTScore of generated replies, speed; keeps the replies."""

    from emocause.bench.generation import bench_responder

    rows, sample = bench_responder(
        path, dataset, split, label=label, replies=replies, causes=causes, n_perplexity=n_perplexity,
        n_generate=n_generate, engine=engine, data_root=data_root,
    )  # fmt: skip
    out = _print_and_write(results, rows, bench_dir)
    _write_beside(out, ".replies.jsonl", sample)


@bench_app.command("generator")
def generator(
    path: Annotated[str, typer.Argument(help="A trained from-scratch generator: a run's best/ folder.")],
    dataset: DatasetOpt,
    results: ResultsOpt,
    split: SplitOpt = "test",
    label: LabelOpt = None,
    replies: RepliesOpt = "every",
    n_generate: Annotated[int, typer.Option(help="Replies generated and scored (seeded sample).")] = 1000,
    beam: Annotated[int, typer.Option(help="Beam width; 1 = greedy.")] = 1,
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """Score a Transformer / Multi-TRS / MoEL / E-CORE / IMAGINE: word perplexity, emotion accuracy, BLEU/ROUGE/Distinct."""

    from emocause.bench.scratch import bench_generator

    rows, lines = bench_generator(
        path,
        dataset,
        split,
        replies=replies,
        label=label,
        n_generate=n_generate,
        beam=beam,
        data_root=data_root,
    )
    out = _print_and_write(results, rows, bench_dir)
    predictions = _write_beside(out, ".predictions.jsonl", lines)
    Console().print(
        f"score them again: emocause evaluate {predictions} --task response -d {dataset} --allow-partial"
    )


@bench_app.command("mechanisms")
def mechanisms(
    path: Annotated[
        str, typer.Argument(help="A communication-mechanism classifier: run folder or shipped name.")
    ],
    results: ResultsOpt,
    split: SplitOpt = "test",
    label: LabelOpt = None,
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """Score the ER / IP / EX classifier on EPITOME's held-out posts (accuracy, macro-F1) and time it."""
    from emocause.bench.understanding import bench_mechanisms

    _print_and_write(results, bench_mechanisms(path, split, label, data_root), bench_dir)


@bench_app.command("knowledge")
def knowledge(
    results: ResultsOpt,
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", help="retrieval, generation or comet:PATH_OR_HUB_ID; repeat to compare."),
    ] = None,
    n: Annotated[int, typer.Option("-n", help="Held-out ATOMIC-2020 queries (seeded sample).")] = 200,
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """Compare knowledge sources with the COMET-BART generations (and gold tails) of held-out ATOMIC queries."""
    from emocause.bench.knowledge import bench_knowledge

    _print_and_write(results, bench_knowledge(sources or ["retrieval"], n, data_root), bench_dir)


@bench_app.command("correlation")
def correlation(
    path: Annotated[str, typer.Argument(help="A trained E-CORE model (ED emotions).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG to write.")],
    results: Annotated[str | None, typer.Option("--results", help="Also write the Pearson r row.")] = None,
    label: LabelOpt = None,
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """E-CORE's learned emotion correlation beside the data's co-occurrence (the paper's Figure 4), as a PNG."""
    import time

    from emocause.bench.results import describe_device
    from emocause.bench.scratch import correlation_figure

    started = time.perf_counter()
    written, r, n = correlation_figure(path, out, data_root=data_root)
    Console().print(f"wrote {written}; Pearson r of the off-diagonal entries = {r:.3f} ({n} dialogues)")
    if results:
        row = ResultRow(
            "emotion_correlation", "empathetic_dialogues", "train", n, "pearson_r_learned_vs_data", r,
            label or path, describe_device(), time.perf_counter() - started, notes=f"figure: {out}",
            definition="Pearson r between off-diagonal entries of learned R and of Table-12 word co-occurrence counts",
        )  # fmt: skip
        _print_and_write(results, [row], bench_dir)


@bench_app.command("ab")
def ab(
    ours: Annotated[Path, typer.Argument(help="Replies file of our model (results/NAME.replies.jsonl).")],
    baseline: Annotated[Path, typer.Argument(help="Replies file of the baseline, same dataset and split.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for ab_sheet.csv/.html and ab_key.csv.")],
    n: Annotated[int, typer.Option(help="Contexts in the sheet.")] = 50,
) -> None:
    """A blinded A/B sheet for human judges (Empathy / Relevance / Fluency); the key is a separate file."""
    from emocause.bench.generation import read_replies, write_ab_sheet

    sheet, page = write_ab_sheet(read_replies(ours), read_replies(baseline), out, n)
    Console().print(f"wrote {sheet}, {page} and {out / 'ab_key.csv'}")


Responder = Annotated[str, typer.Option(help="Responder: shipped name or run folder.")]
CauseTurns = Annotated[str, typer.Option(help="Utterance-cause model; 'none' to skip.")]
MaxNewTokens = Annotated[int, typer.Option(help="Reply length cap.")]


def _product_pipeline(
    responder: str, cause_turns: str, dtype: str, engine: str, max_new_tokens: int
) -> tuple[Any, str]:
    """The default pipeline as the product runs it, and a label naming its parts."""
    pipeline = product_pipeline(responder, cause_turns=cause_turns, dtype=dtype, engine=engine)
    pipeline.responder.config.decoding.max_new_tokens = max_new_tokens
    how = "llama.cpp, GGUF weights" if pipeline.engine == "llama.cpp" else f"transformers, {dtype}"
    described = " + mechanisms" if pipeline.mechanisms is not None else ""
    return pipeline, f"emotion-ed + ece + {cause_turns} + {responder}{described} ({how})"


@bench_app.command("latency")
def latency(
    results: Annotated[
        str, typer.Option("--results", help="Write rows to <bench-dir>/results/NAME.json.")
    ] = "respond_latency",
    n: Annotated[int, typer.Option(help="Messages (opening turns of ED test dialogues).")] = 30,
    max_new_tokens: MaxNewTokens = 30,
    responder: Responder = "caer",
    cause_turns_model: CauseTurns = "cee",
    dtype: Dtype = "float32",
    engine: Engine = "auto",
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """Latency of `respond` at batch 1 (p50/p95), in total and per stage."""
    from emocause.service.benchmarks import first_messages, latency_rows

    pipeline, parts = _product_pipeline(responder, cause_turns_model, dtype, engine, max_new_tokens)
    rows = latency_rows(pipeline, first_messages(n, data_root), f"respond: {parts}")
    _print_and_write(results, rows, bench_dir)


@bench_app.command("load")
def load_test(
    results: Annotated[
        str, typer.Option("--results", help="Write rows to <bench-dir>/results/NAME.json.")
    ] = "service_load",
    clients: Annotated[int, typer.Option(help="Concurrent clients.")] = 32,
    seconds: Annotated[float, typer.Option(help="How long the clients keep sending.")] = 60.0,
    max_batch: Annotated[int, typer.Option(help="Dialogues per model batch.")] = 8,
    max_new_tokens: MaxNewTokens = 30,
    responder: Responder = "caer",
    cause_turns_model: CauseTurns = "cee",
    port: Annotated[int, typer.Option(help="Local port for the server under test.")] = 8765,
    faults: Annotated[
        bool,
        typer.Option(help="Clean, fault-mixed and 2x overload phases (errors, hangs, p95 ratio, shed rate)."),
    ] = False,
    dtype: Dtype = "float32",
    engine: Engine = "auto",
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """Load test on localhost: CLIENTS concurrent clients for SECONDS; throughput, latency percentiles, errors, memory."""
    from emocause.service.app import ServiceConfig
    from emocause.service.benchmarks import fault_load_rows, first_messages, load_test_rows

    pipeline, parts = _product_pipeline(responder, cause_turns_model, dtype, engine, max_new_tokens)
    run = fault_load_rows if faults else load_test_rows
    rows = run(pipeline, first_messages(200, data_root), f"emocause serve: {parts}", clients, seconds,
               ServiceConfig(max_batch=max_batch), port)  # fmt: skip
    _print_and_write(results, rows, bench_dir)


def _write_beside(results_file: Path, suffix: str, lines: list[dict[str, Any]]) -> Path:
    """JSON lines next to a results file (`NAME.json` -> `NAME<suffix>`)."""
    import json

    path = results_file.with_suffix(suffix)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    Console().print(f"wrote {path}")
    return path


def _print_and_write(results: str, rows: list[ResultRow], bench_dir: Path) -> Path:
    out = write_results(results, rows, bench_dir / "results")
    console = Console()
    for row in rows:
        console.print(f"{row.task:20} {row.metric:34} {row.value:10.4f}  N={row.n}")
    console.print(f"wrote {out}")
    return out


@bench_app.command("safety")
def safety(
    results: Annotated[
        str, typer.Option("--results", help="Write rows to <bench-dir>/results/NAME.json.")
    ] = "safety",
    risk_screen: Annotated[
        str, typer.Option(help="Risk screen: shipped name or run folder.")
    ] = "risk-screen",
    reply_screen: Annotated[
        str, typer.Option(help="Reply screen: shipped name or run folder.")
    ] = "reply-screen",
    generated: Annotated[
        Path,
        typer.Option(help="Our replies to ED test openings (JSON lines with 'reply'); made when missing."),
    ] = Path("benchmarks/results/safety-generated-replies.jsonl"),
    n_generated: Annotated[int, typer.Option(help="Replies to generate when the file is missing.")] = 500,
    real_text: Annotated[
        int, typer.Option(help="ED test openings the risk screen reads (flag rate).")
    ] = 1000,
    screens_label: Annotated[
        str | None, typer.Option(help="Name of the learned screens in the rows (default: their names).")
    ] = None,
    risk_test: Annotated[
        str, typer.Option(help="Held-out risk messages (packaged name or path).")
    ] = "risk-test.jsonl",
    evasion_test: Annotated[str, typer.Option(help="Evasions; empty for none.")] = "evasion-test.jsonl",
    replies_test: Annotated[
        str, typer.Option(help="Held-out replies (packaged name or path).")
    ] = "replies-test.jsonl",
    engine: Engine = "auto",
    bench_dir: BenchDir = Path("benchmarks"),
    data_root: DataRoot = None,
) -> None:
    """The safety screens on the held-out safety sets, real ED text and our own replies; rules alone and with the
    learned screens (see emocause.pipeline.safety_benchmark)."""
    from emocause.pipeline.safety import SafetyPolicy
    from emocause.pipeline.safety_benchmark import (
        latency_rows,
        read_generated,
        real_text_rows,
        reply_rows,
        risk_rows,
    )

    if not generated.is_file():
        _generate_replies(generated, n_generated, engine, data_root)
    replies = read_generated(generated)
    details: list[dict[str, Any]] = []
    rows: list[ResultRow] = []
    for label, policy in (
        ("rules", SafetyPolicy.from_pretrained(None, None)),
        (f"rules + {screens_label or f'{risk_screen} / {reply_screen}'}",
         SafetyPolicy.from_pretrained(risk_screen, reply_screen)),
    ):  # fmt: skip
        scores = [risk_rows(policy.risk, label, risk_test, evasion_test or None),
                  reply_rows(policy.output, label, replies, replies_test)]  # fmt: skip
        if real_text:
            scores.append(real_text_rows(policy.risk, label, data_root, real_text))
        for scored in scores:
            rows += scored.rows
            details.append({"model": label, **scored.details})
        rows += latency_rows(policy, label)
    out = _print_and_write(results, rows, bench_dir)
    _write_beside(out, ".details.jsonl", details)


def _generate_replies(path: Path, n: int, engine: str, data_root: str | Path | None) -> None:
    """The shipped responder's raw replies (before any screen) to the first `n` ED test openings."""
    import json

    from emocause.pipeline.respond import EmpathyPipeline
    from emocause.service.benchmarks import first_messages

    pipeline = EmpathyPipeline.from_pretrained(engine=engine, risk_screen=None, reply_screen=None)
    messages = first_messages(n, data_root)
    inputs = [pipeline.response_input(turns, pipeline.analyzer.analyze(turns)) for turns in messages]
    replies = pipeline.responder.respond(inputs, batch_size=8, whole_sentences=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"reply": r}) + "\n" for r in replies), encoding="utf-8")
    Console().print(f"wrote {path} ({len(replies)} replies)")
