from __future__ import annotations

import json
from pathlib import Path

import pytest

from emocause.bench.results import Anchor, ResultRow, read_anchors, read_results, render_report, write_results
from emocause.errors import DataError


def _row(metric: str, value: float, model: str = "ours-small", dataset: str = "reccon") -> ResultRow:
    return ResultRow(task="cause_utterances", dataset=dataset, split="test", n=100, metric=metric, value=value,
                     model=model, device="cpu", seconds=1.5, date="2026-11-22")  # fmt: skip


def _anchor(metric: str, value: float, dataset: str = "reccon") -> Anchor:
    return Anchor(
        task="cause_utterances",
        dataset=dataset,
        split="test",
        metric=metric,
        value=value,
        model="RoBERTa-base",
        source="RECCON",
    )


def test_rows_round_trip(tmp_path: Path) -> None:
    rows = [_row("macro_f1", 0.7), _row("pos_f1", 0.6)]
    path = write_results("cee", rows, tmp_path / "results")
    assert json.loads(path.read_text())[0]["metric"] == "macro_f1"
    assert read_results(tmp_path / "results") == rows


def test_report_says_where_we_stand() -> None:
    report = render_report(
        [_row("macro_f1", 0.70), _row("macro_f1", 0.78, model="ours-big")], [_anchor("macro_f1", 0.7651)]
    )
    assert "| reccon | test | 100 | macro_f1 | 0.78 | ours-big | cpu | 1.5 | 2026-11-22 |  |" in report
    assert "our best 0.78 (ours-big, reccon test) is ahead of the best published 0.7651" in report


def test_lower_is_better_for_perplexity_and_data_caveat() -> None:
    ours = [ResultRow("gen", "reccon", "test", 10, "perplexity_subword", 12.0, "m", "cpu", 1.0, "2026-11-22")]
    theirs = [Anchor("gen", "ed", "test", "perplexity_subword", 11.0, "CAER", "paper")]
    report = render_report(ours, theirs)
    assert (
        "is behind the best published 11" in report
        and "different data: ours on reccon, theirs on ed" in report
    )


def test_anchors_without_rows_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text("- {task: t, dataset: d, split: test, metric: f1, value: 0.5, model: M, source: S}\n")
    report = render_report([], read_anchors(path))
    assert (
        "## t" in report
        and "_No results of ours yet._" in report
        and "| d | test | f1 | 0.5 | M | S |  |" in report
    )


def test_bad_results_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('[{"task": "t", "colour": "red"}]')
    with pytest.raises(DataError, match=r"x.json \(row 0\)"):
        read_results(tmp_path)


def test_shipped_anchors_parse() -> None:
    anchors = read_anchors(Path(__file__).parents[1] / "benchmarks" / "anchors.yaml")
    assert len(anchors) > 40 and all(a.source for a in anchors)


def test_standing_prefers_the_anchor_dataset_and_ignores_baselines() -> None:
    rows = [
        _row("accuracy", 0.45, model="ours-ed", dataset="empathetic_dialogues"),
        _row("accuracy", 0.70, model="ours-reccon", dataset="reccon"),
        _row("accuracy", 0.90, model="baseline: majority", dataset="empathetic_dialogues"),
    ]
    anchors = [
        _anchor("accuracy", 0.50, dataset="empathetic_dialogues"),
        _anchor("accuracy", 0.58, dataset="emocause"),
    ]
    for row in rows:
        row.task = anchors[0].task
    report = render_report(rows, anchors)
    assert "**accuracy** (empathetic_dialogues): our best 0.45 (ours-ed" in report and "is behind" in report
    assert "**accuracy** (emocause): our best 0.7 (ours-reccon, reccon test) is ahead" in report
    assert "different data: ours on reccon, theirs on emocause" in report
    assert "our best 0.9" not in report


def test_results_name_cannot_leave_the_results_folder(tmp_path: Path) -> None:
    from emocause.errors import EmocauseError

    for name in ("/tmp/elsewhere", "../up", "a/b", ""):
        with pytest.raises(EmocauseError, match="results name"):
            write_results(name, [_row("f1", 0.5)], tmp_path)
    assert not any(tmp_path.iterdir())
