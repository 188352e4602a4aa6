"""Statistics of an ECC-format file (an EC-DD run, or the real ECC files), as the ECC paper's Table 3 reports
them, plus label validity and the LLM's quality scores; rows for `benchmarks/results/`.

Definitions (also in docs/ecdd.md):
- turns per dialogue: mean number of turns; words per utterance: mean whitespace-separated words per turn;
- MTLD: `emocause.metrics.mtld` (threshold 0.72, `simple_tokenize`) on each dialogue's turns joined, averaged
  over dialogues (the paper does not say which of the two ways it computes MTLD);
- label validity: share of dialogues whose emotion sentence is verbatim in its emotion turn and whose cause
  sentence is verbatim in its cause turn (the loader's check);
- mean quality score: mean of the 1-5 scores that parsed, with the share that parsed;
- emotion distribution: share of each ECC category.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emocause.bench.results import ResultRow, describe_device
from emocause.data.ecc import read_ecc_jsonl
from emocause.data.io import iter_jsonl, read_json
from emocause.metrics import mtld, simple_tokenize
from emocause.pipeline.ecdd.store import sidecar


@dataclass
class DataStatistics:
    dialogues: int
    turns_per_dialogue: float | None
    """None (as the other means) for a file with no dialogue."""
    words_per_utterance: float | None
    mtld: float | None
    label_validity: float | None
    quality_mean: float | None
    quality_parsed: float | None
    emotions: dict[str, float]


def file_statistics(path: Path) -> DataStatistics:
    result = read_ecc_jsonl(path)
    dialogues = result.dialogues
    turns = [t.text for d in dialogues for t in d.turns]
    invalid = sum(n for problem, n in result.problems.items() if "not found verbatim" in problem)
    raw = [record for _, record in iter_jsonl(path)]
    scores = [r["quality"]["score"] for r in raw if isinstance(r.get("quality"), dict)]
    has_quality = any("quality" in r for r in raw)
    emotions = Counter(d.emotion for d in dialogues)
    if not dialogues:
        return DataStatistics(0, None, None, None, None, None, None, {})
    return DataStatistics(
        dialogues=len(dialogues),
        turns_per_dialogue=statistics.fmean(len(d.turns) for d in dialogues),
        words_per_utterance=statistics.fmean(len(t.split()) for t in turns),
        mtld=statistics.fmean(mtld(simple_tokenize(" ".join(t.text for t in d.turns))) for d in dialogues),
        label_validity=1 - invalid / len(dialogues),
        quality_mean=statistics.fmean(scores) if scores else None,
        quality_parsed=len(scores) / len(raw) if has_quality else None,
        emotions={k or "none": round(v / len(dialogues), 4) for k, v in emotions.most_common()},
    )


_DEFINITIONS = {
    "turns_per_dialogue": "mean turns per dialogue",
    "words_per_utterance": "mean whitespace words per turn",
    "mtld": "MTLD (0.72, simple_tokenize) per dialogue, mean",
    "label_validity": "share of dialogues whose emotion and cause sentences are verbatim in their turns",
    "quality_mean": "mean LLM label score (1-5) among parsed scores",
    "quality_parsed": "share of dialogues whose quality answer held a 1-5 score",
}


def statistics_rows(
    stats: DataStatistics, dataset: str, split: str, model: str, seconds: float, notes: str = ""
) -> list[ResultRow]:
    device = describe_device()
    rows = []
    for metric, definition in _DEFINITIONS.items():
        value = getattr(stats, metric)
        if value is not None:
            rows.append(ResultRow("ecdd_data", dataset, split, stats.dialogues, metric, round(float(value), 4), model,
                                  device, round(seconds, 2), notes=notes, definition=definition))  # fmt: skip
    return rows


def file_label(path: Path) -> str:
    """`run-folder/file.jsonl`: runs write files of the same name into different folders."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def run_rows(path: Path) -> list[ResultRow]:
    """Speed and yield of the run that wrote `path`, from its summary sidecar (absent: none)."""
    summary_file = sidecar(path, "summary.json")
    if not summary_file.is_file():
        return []
    summary: dict[str, Any] = read_json(summary_file)
    seeds = summary["kept"] + sum(summary["dropped"].values())
    notes = f"concurrency {summary['concurrency']}; dropped {summary['dropped']}; failed {summary['failed']}"
    if summary["already_done"]:
        notes += f"; this invocation only: {summary['already_done']} seeds were done before a resume"
    device = describe_device()

    def row(metric: str, value: float, definition: str) -> ResultRow:
        return ResultRow("ecdd_run", file_label(path), "all", seeds, metric, round(value, 4), summary["model"], device,
                         summary["seconds"], notes=notes, definition=definition)  # fmt: skip

    return [
        row(
            "dialogues_per_minute", summary["dialogues_per_minute"], "kept dialogues per minute of wall time"
        ),
        row("seeds_per_minute", 60 * seeds / summary["seconds"] if summary["seconds"] else 0.0,
            "seeds finished (kept or dropped) per minute of wall time"),
        row("completion_tokens_per_second",
            summary["completion_tokens"] / summary["seconds"] if summary["seconds"] else 0.0,
            "tokens the model generated per second of wall time, all stages"),
        row("kept_share", summary["kept"] / seeds if seeds else 0.0, "kept dialogues / seeds finished"),
        row(
            "completion_tokens_per_dialogue",
            summary["completion_tokens"] / max(summary["kept"], 1),
            "tokens generated per kept dialogue (all stages and retries)",
        ),
    ]


def report_rows(paths: list[Path], real_ecc: list[tuple[str, Path]]) -> list[ResultRow]:
    rows = []
    for path in paths:
        start = time.perf_counter()
        stats = file_statistics(path)
        model = next((r["provenance"]["model"] for _, r in iter_jsonl(path) if "provenance" in r), "unknown")
        rows += statistics_rows(
            stats, file_label(path), "all", model, time.perf_counter() - start, f"emotions {stats.emotions}"
        )
        rows += run_rows(path)
    for split, path in real_ecc:
        start = time.perf_counter()
        stats = file_statistics(path)
        rows += statistics_rows(stats, "ecc", split, "baseline: ECC release (GPT-3.5), our definitions", time.perf_counter() - start,
                                f"emotions {stats.emotions}")  # fmt: skip
    return rows
