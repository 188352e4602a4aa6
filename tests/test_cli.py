from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from emocause.cli import _register, app

_register()
runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"


def test_help_everywhere() -> None:
    for args in (
        [],
        ["data"],
        ["data", "check"],
        ["data", "show"],
        ["bench", "report"],
        ["bench", "baselines"],
        ["evaluate"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_data_check_on_the_real_root(real_root: Path) -> None:
    result = runner.invoke(app, ["data", "check", "--json", "--data-root", str(real_root)])
    assert result.exit_code == 0, result.output
    reports = {(r["dataset"], r["split"]): r for r in json.loads(result.output)}
    assert reports[("empathetic_dialogues", "train")]["records"] == 19_532
    assert reports[("ecc_examples", "train")]["records"] == 7_376
    assert reports[("emocause", "test")]["status"] == "not offline"


def test_data_check_fails_when_a_dataset_is_missing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "check", "--data-root", str(tmp_path), "-d", "esconv"])
    assert result.exit_code == 1 and "missing" in result.output


def test_data_show_highlights_on_fixtures() -> None:
    result = runner.invoke(
        app, ["data", "show", "emocause", "--split", "test", "--n", "1", "--data-root", str(FIXTURES)]
    )
    assert result.exit_code == 0, result.output
    assert "emocause test" in result.output
    as_json = runner.invoke(
        app,
        [
            "data",
            "show",
            "acnempathize_cause",
            "-s",
            "train",
            "-n",
            "2",
            "--json",
            "--data-root",
            str(FIXTURES),
        ],
    )
    records = json.loads(as_json.output)
    assert len(records) == 2 and records[0]["turns"][1]["cause_spans"]


def test_user_errors_are_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from emocause.cli import main; main()", "data", "show", "nosuchset"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "unknown dataset" in proc.stderr and "Traceback" not in proc.stderr


def test_bench_report_writes_results_md(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "anchors.yaml").write_text(
        "- {task: t, dataset: d, split: test, metric: f1, value: 0.5, model: M, source: S}\n"
    )
    result = runner.invoke(app, ["bench", "report", "--bench-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "## t" in (tmp_path / "RESULTS.md").read_text()
