"""Benchmark rows, their JSON files and the markdown report beside the papers' numbers.

Every benchmark writes `benchmarks/results/<name>.json`, a list of `ResultRow`s. The report groups all
rows by task into tables and puts the published numbers (`benchmarks/anchors.yaml`) for the same task
beside them, with a line per metric saying where we stand. Proportions (accuracy, F1, BLEU, ROUGE,
BERTScore) are fractions in [0, 1]; Distinct-n is ×100; perplexity names its level in the metric name.
"""

from __future__ import annotations

import json
import platform
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from emocause.errors import DataError, EmocauseError

_LOWER_IS_BETTER = ("perplexity", "loss", "seconds", "latency")


def lower_is_better(metric: str) -> bool:
    return metric.startswith(_LOWER_IS_BETTER)


def describe_device() -> str:
    """CPU model and core count, or the CUDA device name when one is in use."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"cuda:{torch.cuda.get_device_name(0)}"
        threads = torch.get_num_threads()
    except ImportError:  # the report can be rendered without torch
        threads = 0
    return f"cpu:{platform.processor() or platform.machine()} x{threads}"


@dataclass
class ResultRow:
    task: str
    dataset: str
    split: str
    n: int
    metric: str
    value: float
    model: str
    device: str
    seconds: float
    date: str = field(default_factory=lambda: date.today().isoformat())
    notes: str = ""
    definition: str = ""
    """One line saying what the metric counts; the full card is in docs/metrics.md."""


@dataclass
class Anchor:
    """A published number: the paper's model, on its data, with where it was reported."""

    task: str
    dataset: str
    split: str
    metric: str
    value: float
    model: str
    source: str
    notes: str = ""


def write_results(name: str, rows: list[ResultRow], results_dir: Path) -> Path:
    """Write (replace) `results_dir/<name>.json` with these rows."""
    if not re.fullmatch(r"[\w.-]+", name) or name.startswith("."):
        raise EmocauseError(f"results name {name!r}: use letters, digits, '-', '_' or '.', no folders")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n", encoding="utf-8")
    return path


def _rows_from(path: Path, cls: type, records: Any) -> list[Any]:
    if not isinstance(records, list):
        raise DataError(path, f"top level is a {type(records).__name__}", expected="a list of rows")
    known = {f.name for f in fields(cls)}
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not set(record) <= known:
            raise DataError(
                path, f"row is not a {cls.__name__}", where=f"row {i}", expected=f"keys among {sorted(known)}"
            )
        try:
            rows.append(cls(**record))
        except TypeError as exc:
            raise DataError(path, str(exc), where=f"row {i}") from None
    return rows


def read_results(results_dir: Path) -> list[ResultRow]:
    rows: list[ResultRow] = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(path, f"invalid JSON: {exc.msg}", where=f"line {exc.lineno}") from None
        rows += _rows_from(path, ResultRow, records)
    return rows


def read_anchors(path: Path) -> list[Anchor]:
    if not path.is_file():
        return []
    return _rows_from(path, Anchor, yaml.safe_load(path.read_text(encoding="utf-8")) or [])


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _standing(metric: str, ours: list[ResultRow], anchors: list[Anchor]) -> str:
    pick = min if lower_is_better(metric) else max
    best_ours = pick(ours, key=lambda r: r.value)
    best_paper = pick(anchors, key=lambda a: a.value)
    better = (
        best_ours.value < best_paper.value if lower_is_better(metric) else best_ours.value > best_paper.value
    )
    verdict = "ahead of" if better else ("level with" if best_ours.value == best_paper.value else "behind")
    same_data = best_ours.dataset == best_paper.dataset
    caveat = (
        "" if same_data else f" (different data: ours on {best_ours.dataset}, theirs on {best_paper.dataset})"
    )
    return (
        f"- **{metric}** ({best_paper.dataset}): our best {_fmt(best_ours.value)} ({best_ours.model}, {best_ours.dataset} {best_ours.split}) is "
        f"{verdict} the best published {_fmt(best_paper.value)} ({best_paper.model}, {best_paper.source}){caveat}."
    )


def _standings(metric: str, ours: list[ResultRow], anchors: list[Anchor]) -> list[str]:
    """One line per dataset the papers report on: our best model row on that dataset, else on any (flagged).
    Baseline rows are floors, not contenders."""
    models = [r for r in ours if r.metric == metric and not r.model.startswith("baseline:")]
    if not models:
        return []
    lines = []
    for dataset in sorted({a.dataset for a in anchors if a.metric == metric}):
        same = [r for r in models if r.dataset == dataset]
        lines.append(
            _standing(
                metric, same or models, [a for a in anchors if a.metric == metric and a.dataset == dataset]
            )
        )
    return lines


def render_report(rows: list[ResultRow], anchors: list[Anchor]) -> str:
    """RESULTS.md: per task, our rows and the published rows, then where we stand per metric."""
    out = [
        "# Benchmark results",
        "",
        (
            "Generated by `emocause bench report` from `benchmarks/results/*.json` and `benchmarks/anchors.yaml`; "
            "do not edit by hand. Metric definitions: `docs/metrics.md`. Proportions are fractions in [0, 1], "
            "Distinct-n is ×100."
        ),
        "",
    ]
    tasks = sorted({r.task for r in rows} | {a.task for a in anchors})
    for task in tasks:
        ours = sorted(
            (r for r in rows if r.task == task), key=lambda r: (r.dataset, r.split, r.metric, r.model)
        )
        theirs = sorted((a for a in anchors if a.task == task), key=lambda a: (a.dataset, a.metric, a.model))
        out += [f"## {task}", ""]
        if ours:
            out += [
                "| dataset | split | N | metric | value | model | device | seconds | date | notes |",
                "|---|---|---:|---|---:|---|---|---:|---|---|",
            ]
            out += [
                f"| {r.dataset} | {r.split} | {r.n:,} | {r.metric} | {_fmt(r.value)} | {r.model} | {r.device} | {r.seconds:.1f} | {r.date} | {r.notes} |"
                for r in ours
            ]
        else:
            out.append("_No results of ours yet._")
        if theirs:
            out += [
                "",
                "Published:",
                "",
                "| dataset | split | metric | value | model | source | notes |",
                "|---|---|---|---:|---|---|---|",
            ]
            out += [
                f"| {a.dataset} | {a.split} | {a.metric} | {_fmt(a.value)} | {a.model} | {a.source} | {a.notes} |"
                for a in theirs
            ]
        standings = [
            line
            for metric in sorted({r.metric for r in ours} & {a.metric for a in theirs})
            for line in _standings(metric, ours, theirs)
        ]
        if standings:
            out += ["", "Where we stand:", "", *standings]
        out.append("")
    return "\n".join(out)
