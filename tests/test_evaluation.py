from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emocause.bench.results import read_results
from emocause.cli import _register, app
from emocause.data import load
from emocause.errors import DataError, EmocauseError
from emocause.evaluation import Evaluation, evaluate_file, evaluate_predictions

FIXTURES = Path(__file__).parent / "fixtures"
_register()


def _lines(records: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return list(enumerate(records, start=1))


def _scores(evaluation: Evaluation) -> dict[str, float]:
    return {s.metric: s.value for s in evaluation.scores}


EMOCAUSE_TEST = [
    "hit:512_conv:1024",
    "hit:600_conv:1200",
    "hit:733_conv:1466",
]  # grateful, nostalgic, disgusted


def test_emotion_accuracy_and_top_k_on_fixture() -> None:
    ranked = [
        {"id": EMOCAUSE_TEST[0], "emotions": ["grateful", "joyful", "proud"]},
        {"id": EMOCAUSE_TEST[1], "emotions": ["sentimental", "nostalgic", "sad"]},
        {"id": EMOCAUSE_TEST[2], "emotions": ["angry", "annoyed", "furious"]},
    ]
    scores = _scores(evaluate_predictions("emotion", _lines(ranked), "emocause", "test", data_root=FIXTURES))
    assert scores["accuracy"] == pytest.approx(1 / 3)
    assert scores["top3_accuracy"] == pytest.approx(2 / 3)
    assert "top5_accuracy" not in scores  # rankings shorter than 5
    # Macro-F1 is over all 32 ED classes: only "grateful" has F1 = 1, every other class 0.
    assert scores["macro_f1"] == pytest.approx(1 / 32)


def test_emotion_labels_are_normalised_and_checked() -> None:
    single = [
        {"id": i, "emotion": e}
        for i, e in zip(EMOCAUSE_TEST, ["Grateful", "nostalgic", "disgusted"], strict=True)
    ]
    assert (
        _scores(evaluate_predictions("emotion", _lines(single), "emocause", "test", data_root=FIXTURES))[
            "accuracy"
        ]
        == 1.0
    )
    with pytest.raises(DataError, match="not in"):
        evaluate_predictions("emotion", _lines([{"id": EMOCAUSE_TEST[0], "emotion": "hungry"}]), "emocause", "test",
                             data_root=FIXTURES, allow_partial=True)  # fmt: skip


def test_unknown_duplicate_and_missing_predictions_are_errors() -> None:
    with pytest.raises(DataError, match=r"line 1\): prediction for unknown example 'nope'"):
        evaluate_predictions(
            "emotion", _lines([{"id": "nope", "emotion": "sad"}]), "emocause", "test", data_root=FIXTURES
        )
    twice = [{"id": EMOCAUSE_TEST[0], "emotion": "sad"}] * 2
    with pytest.raises(DataError, match=r"line 2\): second prediction"):
        evaluate_predictions(
            "emotion", _lines(twice), "emocause", "test", data_root=FIXTURES, allow_partial=True
        )
    one = [{"id": EMOCAUSE_TEST[0], "emotion": "grateful"}]
    with pytest.raises(DataError, match="2 gold examples"):
        evaluate_predictions("emotion", _lines(one), "emocause", "test", data_root=FIXTURES)
    partial = evaluate_predictions(
        "emotion", _lines(one), "emocause", "test", data_root=FIXTURES, allow_partial=True
    )
    assert partial.missing == 2 and _scores(partial)["accuracy"] == 1.0
    assert "2 gold examples had no prediction" in partial.rows("m")[0].notes
    with pytest.raises(EmocauseError, match="unknown task"):
        evaluate_predictions("sentiment", _lines(one), "emocause", "test", data_root=FIXTURES)
    with pytest.raises(DataError, match="no predictions"):
        evaluate_predictions("emotion", [], "emocause", "test", data_root=FIXTURES)


def test_cause_words_top_k_recall_on_fixture() -> None:
    predictions = [
        # gold: coworker covered shift sick -> top1 1/4, top3 2/4, top5 3/4
        {"id": EMOCAUSE_TEST[0], "ranked_words": ["coworker", "my", "shift", "when", "sick"]},
        # gold: photo album childhood -> 0, 1/3, 3/3
        {"id": EMOCAUSE_TEST[1], "ranked_words": ["found", "old", "photo", "album", "childhood"]},
        # gold: sneeze salad bar -> 1/3, 1/3, 1/3
        {"id": EMOCAUSE_TEST[2], "ranked_words": ["sneeze"]},
    ]
    scores = _scores(
        evaluate_predictions("cause_words", _lines(predictions), "emocause", "test", data_root=FIXTURES)
    )
    assert scores["top1_recall"] == pytest.approx((1 / 4 + 0 + 1 / 3) / 3)
    assert scores["top3_recall"] == pytest.approx((2 / 4 + 1 / 3 + 1 / 3) / 3)
    assert scores["top5_recall"] == pytest.approx((3 / 4 + 1 + 1 / 3) / 3)


def test_empathy_causes_on_fixture() -> None:
    # gold test labels: 1709/1 [0, 0, 1], 1715/1 [1, 1, 1, 0]
    predictions = [
        {"id": "1709/1", "scores": [0.1, 0.6, 0.9]},
        {"id": "1715/1", "scores": [0.8, 0.2, 0.7, 0.3]},
    ]
    scores = _scores(
        evaluate_predictions(
            "empathy_causes", _lines(predictions), "acnempathize_cause", "test", data_root=FIXTURES
        )
    )
    # predicted positives: s2, s3 of post 1, s1, s3 of post 2 -> TP 3, FP 1, FN 1
    assert scores["precision"] == pytest.approx(3 / 4)
    assert scores["recall"] == pytest.approx(3 / 4)
    assert scores["accuracy"] == pytest.approx(5 / 7)
    assert 0.5 < scores["roc_auc"] <= 1.0
    wrong_length = [{"id": "1709/1", "scores": [0.1]}, predictions[1]]
    with pytest.raises(DataError, match="one per post sentence"):
        evaluate_predictions(
            "empathy_causes", _lines(wrong_length), "acnempathize_cause", "test", data_root=FIXTURES
        )


def test_cause_utterances_on_one_real_reccon_dialogue(real_root: Path) -> None:
    dialogue = next(d for d in load("reccon", "test", real_root).dialogues
                    if sum(1 for t in d.turns if t.emotion not in (None, "neutral") and t.cause_turns) >= 2)  # fmt: skip
    targets = [
        (i, t.cause_turns)
        for i, t in enumerate(dialogue.turns)
        if t.emotion not in (None, "neutral") and t.cause_turns
    ]
    exact = [{"id": dialogue.id, "turn": i, "causes": list(causes)} for i, causes in targets]
    result = evaluate_predictions(
        "cause_utterances", _lines(exact), "reccon", "test", data_root=real_root, allow_partial=True
    )
    scores = _scores(result)
    assert scores["pos_f1"] == 1.0 and scores["macro_f1"] == pytest.approx((1.0 + scores["neg_f1"]) / 2)
    assert result.scores[0].n == sum(i + 1 for i, _ in targets)  # every candidate up to the target
    nothing = [{"id": dialogue.id, "turn": i, "causes": []} for i, _ in targets]
    assert (
        _scores(
            evaluate_predictions(
                "cause_utterances", _lines(nothing), "reccon", "test", data_root=real_root, allow_partial=True
            )
        )["pos_f1"]
        == 0.0
    )


def test_cause_spans_on_real_reccon(real_root: Path) -> None:
    dialogue = next(
        d for d in load("reccon", "test", real_root).dialogues if any(t.cause_spans for t in d.turns)
    )
    turn = next(i for i, t in enumerate(dialogue.turns) if t.cause_spans)
    span = dialogue.turns[turn].cause_spans[0]
    exact = [{"id": dialogue.id, "turn": turn, "cause_turn": span.turn, "span": span.text}]
    scores = _scores(
        evaluate_predictions(
            "cause_spans", _lines(exact), "reccon", "test", data_root=real_root, allow_partial=True
        )
    )
    assert scores == {"exact_match": 1.0, "span_f1": 1.0}
    wrong_turn = [{"id": dialogue.id, "turn": turn, "cause_turn": 99, "span": span.text}]
    with pytest.raises(DataError, match="unknown example"):
        evaluate_predictions(
            "cause_spans", _lines(wrong_turn), "reccon", "test", data_root=real_root, allow_partial=True
        )


def test_response_overlap_and_perplexity_on_real_ed(real_root: Path) -> None:
    dialogue = load("empathetic_dialogues", "test", real_root).dialogues[0]
    turns = [i for i, t in enumerate(dialogue.turns) if i > 0 and t.role == "listener"]
    copies = [{"id": dialogue.id, "turn": i, "response": dialogue.turns[i].text, "nll_sum": math.log(2) * 10, "n_tokens": 10}
              for i in turns]  # fmt: skip
    scores = _scores(
        evaluate_predictions(
            "response",
            _lines(copies),
            "empathetic_dialogues",
            "test",
            data_root=real_root,
            allow_partial=True,
        )
    )
    assert scores["bleu_1"] == pytest.approx(1.0) and scores["rouge_1"] == pytest.approx(1.0)
    assert scores["perplexity_subword"] == pytest.approx(2.0)
    missing_text = [{"id": dialogue.id, "turn": turns[0], "response": None}]
    with pytest.raises(DataError, match="needs 'response'"):
        evaluate_predictions(
            "response",
            _lines(missing_text),
            "empathetic_dialogues",
            "test",
            data_root=real_root,
            allow_partial=True,
        )


def test_prediction_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text('{"id": "hit:512_conv:1024", "emotion": "grateful"}\n{"emotion": "sad"}\n')
    with pytest.raises(DataError, match=r"line 2\): prediction without an 'id'"):
        evaluate_file("emotion", path, "emocause", "test", data_root=FIXTURES)
    path.write_text('{"id": "hit:512_conv:1024", "emotion": \n')
    with pytest.raises(DataError, match="line 1"):
        evaluate_file("emotion", path, "emocause", "test", data_root=FIXTURES)


def test_evaluate_cli_writes_result_rows(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps({"id": i, "emotion": "grateful"}) + "\n" for i in EMOCAUSE_TEST))
    args = ["evaluate", str(path), "--task", "emotion", "--dataset", "emocause", "--data-root", str(FIXTURES),
            "--model", "always grateful", "--results", "fixture_run", "--bench-dir", str(tmp_path)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = {r.metric: r for r in read_results(tmp_path / "results")}
    assert rows["accuracy"].value == pytest.approx(1 / 3) and rows["accuracy"].n == 3
    assert rows["accuracy"].model == "always grateful" and rows["accuracy"].definition
