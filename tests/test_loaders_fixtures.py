"""EmoCause and AcnEmpathize-Cause loaders on small fixtures in their release formats, and on broken input."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from emocause.data import acnempathize, emocause_words
from emocause.data.registry import get_spec, load
from emocause.data.schema import Dialogue
from emocause.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 1843021\n"
)


def _check_spans(dialogue: Dialogue) -> None:
    for turn in dialogue.turns:
        for span in turn.cause_spans:
            source = dialogue.turns[span.turn].text
            assert 0 <= span.start < span.end <= len(source)
            assert source[span.start : span.end] == span.text


def _error_text(excinfo: pytest.ExceptionInfo[DataError]) -> str:
    return str(excinfo.value)


# --- EmoCause -------------------------------------------------------------------------------------


def _emocause_record(**changes: Any) -> dict[str, Any]:
    record = {
        "original_situation": "I got a gift from a friend last vacation!",
        "tokenized_situation": ["I", "got", "a", "gift", "from", "a", "friend", "last", "vacation", "!"],
        "emotion": "joyful",
        "conv_id": "hit:1_conv:2",
        "annotation": [["gift", 3], ["friend", 6]],
        "labels": ["gift", "friend"],
    }
    record.update(changes)
    return record


def _write_emocause(root: Path, records: Any, split: str = "valid") -> Path:
    path = root / "emocause" / f"{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_emocause_valid_fixture() -> None:
    result = emocause_words.load(FIXTURES, "valid")
    dialogues = result.dialogues
    assert [d.id for d in dialogues] == [
        "hit:101_conv:202",
        "hit:87_conv:175",
        "hit:230_conv:461",
        "hit:45_conv:91",
    ]
    assert [d.emotion for d in dialogues] == ["terrified", "proud", "annoyed", "lonely"]
    assert [[s.text for s in d.turns[0].cause_spans] for d in dialogues] == [
        ["deer", "jumped", "car"],
        ["daughter", "graduated", "college", "degree"],
        ["dog", "barks", "sleep"],
        ["moved", "city", "anyone"],
    ]
    for dialogue in dialogues:
        _check_spans(dialogue)
        (turn,) = dialogue.turns
        assert (dialogue.source, dialogue.split, dialogue.cause_labels) == ("emocause", "valid", "gold")
        assert turn.role == "speaker" and turn.emotion == dialogue.emotion
        assert dialogue.situation == turn.text
        assert turn.cause_turns == [0]
        assert turn.meta["text_from_tokens"] is False
        assert [turn.meta["tokens"][i] for i in turn.meta["cause_word_indices"]] == [
            s.text for s in turn.cause_spans
        ]

    first = dialogues[0].turns[0]
    assert first.text == "I was driving home late at night, and a deer jumped right in front of my car."
    assert [(s.start, s.end) for s in first.cause_spans] == [(40, 44), (45, 51), (73, 76)]
    # The fourth record's "anyone" is annotated at index 16 but is token 15: moved, and counted.
    assert dialogues[3].turns[0].meta["cause_word_indices"] == [2, 6, 15]
    assert result.problems == {"annotation index does not point at its word": 1}
    assert not result.skipped


def test_emocause_test_fixture_through_the_registry() -> None:
    spec = get_spec("emocause")
    assert spec.splits == ("valid", "test")
    assert spec.files("test") == ["emocause/test.json"]
    assert spec.available_offline is False
    result = load("emocause", "test", root=FIXTURES)
    assert len(result) == 3
    assert sum(len(d.turns[0].cause_spans) for d in result.dialogues) == 10
    assert [d.emotion for d in result.dialogues] == ["grateful", "nostalgic", "disgusted"]
    for dialogue in result.dialogues:
        _check_spans(dialogue)
    assert not result.problems and not result.skipped


def test_emocause_falls_back_to_tokens_and_accepts_release_spellings(tmp_path: Path) -> None:
    record = _emocause_record(
        emotion="__joyful__", tokenized_situation="I got a gift from a friend last vacation !"
    )
    del record["original_situation"]
    _write_emocause(tmp_path, [record, _emocause_record(annotation=[["gift", 3], ["parrot", 5]])])
    result = emocause_words.load(tmp_path, "valid")
    fallback, second = result.dialogues
    turn = fallback.turns[0]
    assert turn.text == "I got a gift from a friend last vacation !"
    assert turn.meta["text_from_tokens"] is True
    assert fallback.emotion == "joyful"
    assert [(s.start, s.end, s.text) for s in turn.cause_spans] == [(8, 12, "gift"), (20, 26, "friend")]
    # Two records share a conv_id: both kept, the second renamed.
    assert second.id == "hit:1_conv:2#2"
    assert [s.text for s in second.turns[0].cause_spans] == ["gift"]
    assert result.problems == {"repeated conv_id": 1, "cause word not among the tokens": 1}


def test_emocause_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found") as excinfo:
        emocause_words.load(tmp_path, "test")
    assert str(tmp_path / "emocause" / "test.json") in _error_text(excinfo)


def test_emocause_lfs_pointer(tmp_path: Path) -> None:
    path = tmp_path / "emocause" / "valid.json"
    path.parent.mkdir(parents=True)
    path.write_text(LFS_POINTER, encoding="utf-8")
    with pytest.raises(DataError, match="Git LFS") as excinfo:
        emocause_words.load(tmp_path, "valid")
    assert str(path) in _error_text(excinfo)


def test_emocause_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "emocause" / "valid.json"
    path.parent.mkdir(parents=True)
    # A download cut short: the closing brackets are missing.
    path.write_text(json.dumps([_emocause_record()], indent=1)[:-4], encoding="utf-8")
    with pytest.raises(DataError, match="truncated JSON") as excinfo:
        emocause_words.load(tmp_path, "valid")
    message = _error_text(excinfo)
    assert str(path) in message and "line " in message


def test_emocause_missing_field(tmp_path: Path) -> None:
    broken = _emocause_record(conv_id="hit:9_conv:18")
    del broken["annotation"]
    path = _write_emocause(tmp_path, [_emocause_record(), broken])
    with pytest.raises(DataError, match=r"missing field\(s\) \['annotation'\]") as excinfo:
        emocause_words.load(tmp_path, "valid")
    assert f"{path} (record 1)" in _error_text(excinfo)


def test_emocause_unknown_emotion(tmp_path: Path) -> None:
    path = _write_emocause(tmp_path, [_emocause_record(emotion="elated")], split="test")
    with pytest.raises(DataError, match="unknown emotion label 'elated'") as excinfo:
        emocause_words.load(tmp_path, "test")
    assert f"{path} (record 0, conv_id hit:1_conv:2)" in _error_text(excinfo)


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ({"conv_id": "x"}, "top level is a JSON dict"),
        ([_emocause_record(annotation=[["gift", "3"]])], "bad annotation entry"),
        ([_emocause_record(tokenized_situation=[1, 2])], "tokenized_situation is not a list of strings"),
    ],
)
def test_emocause_malformed_records(tmp_path: Path, records: Any, problem: str) -> None:
    path = _write_emocause(tmp_path, records)
    with pytest.raises(DataError, match=problem) as excinfo:
        emocause_words.load(tmp_path, "valid")
    assert str(path) in _error_text(excinfo)


# --- AcnEmpathize-Cause ---------------------------------------------------------------------------

_ACN_HEADER = ["conv_id", "title", "sentences", "labels", "reply"]


def _write_acn(root: Path, rows: list[list[str]], header: list[str] = _ACN_HEADER) -> Path:
    path = root / acnempathize.FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _acn_row(
    conv_id: str = "1702", sentences: str = "['I hate my skin.', 'Any advice?']", labels: str = "[1, 0]"
) -> list[str]:
    return [conv_id, "Need advice", sentences, labels, "I know how that feels."]


def test_acnempathize_fixture_splits() -> None:
    counts = {split: len(acnempathize.load(FIXTURES, split)) for split in acnempathize.SPLITS}
    assert counts == {"train": 3, "valid": 1, "test": 2}
    assert {acnempathize.split_of(c) for c in ("1702", "1712")} == {"train"}
    assert acnempathize.split_of("1730") == "valid"
    assert {acnempathize.split_of(c) for c in ("1709", "1715")} == {"test"}


def test_acnempathize_fixture_pairs() -> None:
    result = load("acnempathize_cause", "train", root=FIXTURES)
    assert [d.id for d in result.dialogues] == ["1702/1", "1702/2", "1712/1"]
    assert not result.problems and not result.skipped
    first = result.dialogues[0]
    post, reply = first.turns
    sentences = post.meta["sentences"]
    assert len(sentences) == 6
    assert post.meta["sentence_labels"] == [0, 1, 0, 1, 0, 0]
    assert post.text == " ".join(sentences)
    assert not post.cause_spans
    assert [s.text for s in reply.cause_spans] == [sentences[1], sentences[3]]
    assert [(s.turn, s.start, s.end) for s in reply.cause_spans] == [(0, 13, 70), (0, 134, 216)]
    assert (post.role, reply.role) == ("speaker", "listener")
    assert reply.text.startswith("I'm so sorry you're going through this.")
    assert reply.cause_turns == [0]
    assert (first.source, first.split, first.cause_labels) == ("acnempathize_cause", "train", "gold")
    assert first.meta["title"] == "Feeling hopeless about my skin"
    assert first.meta["reply_post_id"] == "3651388"
    for dialogue in result.dialogues:
        _check_spans(dialogue)
        labels = dialogue.turns[0].meta["sentence_labels"]
        assert len(dialogue.turns[1].cause_spans) == sum(labels)


def test_acnempathize_other_splits() -> None:
    spec = get_spec("acnempathize_cause")
    assert spec.files("valid") == ["acnempathize/acnempathize_cause.csv"]
    assert spec.available_offline is False
    test = acnempathize.load(FIXTURES, "test").dialogues
    assert [d.id for d in test] == ["1709/1", "1715/1"]
    assert [len(d.turns[1].cause_spans) for d in test] == [1, 3]
    for dialogue in test + acnempathize.load(FIXTURES, "valid").dialogues:
        _check_spans(dialogue)


def test_acnempathize_accepts_json_lists_and_string_labels(tmp_path: Path) -> None:
    _write_acn(tmp_path, [_acn_row(sentences='["First.", "", "Third one."]', labels='["1", "1", "0"]')])
    result = acnempathize.load(tmp_path, "train")
    (dialogue,) = result.dialogues
    post, reply = dialogue.turns
    assert post.text == "First.  Third one."
    assert [(s.start, s.end, s.text) for s in reply.cause_spans] == [(0, 6, "First.")]
    assert result.problems == {"empty sentence labelled as a cause": 1}


def test_acnempathize_skips_empty_reply(tmp_path: Path) -> None:
    row = _acn_row()
    row[-1] = "  "
    _write_acn(tmp_path, [row, _acn_row()])
    result = acnempathize.load(tmp_path, "train")
    assert [d.id for d in result.dialogues] == ["1702/1"]
    assert result.skipped == {"empty reply": 1}


def test_acnempathize_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found") as excinfo:
        acnempathize.load(tmp_path, "train")
    assert str(tmp_path / acnempathize.FILE) in _error_text(excinfo)


def test_acnempathize_lfs_pointer(tmp_path: Path) -> None:
    path = tmp_path / acnempathize.FILE
    path.parent.mkdir(parents=True)
    path.write_text(LFS_POINTER, encoding="utf-8")
    with pytest.raises(DataError, match="Git LFS") as excinfo:
        acnempathize.load(tmp_path, "test")
    assert str(path) in _error_text(excinfo)


def test_acnempathize_missing_column(tmp_path: Path) -> None:
    path = _write_acn(tmp_path, [_acn_row()[:-1]], header=_ACN_HEADER[:-1])
    with pytest.raises(DataError, match=r"missing column\(s\) \['reply'\]") as excinfo:
        acnempathize.load(tmp_path, "train")
    assert f"{path} (header)" in _error_text(excinfo)


def test_acnempathize_label_count_mismatch(tmp_path: Path) -> None:
    path = _write_acn(tmp_path, [_acn_row(), _acn_row(conv_id="1730", labels="[1, 0, 0]")])
    # The broken row is a valid-split thread; loading train must fail all the same.
    with pytest.raises(DataError, match="3 labels for 2 sentences") as excinfo:
        acnempathize.load(tmp_path, "train")
    assert f"{path} (line 3, conv_id 1730)" in _error_text(excinfo)


@pytest.mark.parametrize(
    ("sentences", "labels", "problem"),
    [
        ("['I hate my skin.', 'Any advice?']", "[1, 2]", "label 2 is not 0 or 1"),
        ("['I hate my skin.', 'Any advice?']", "[True, False]", "label True is not 0 or 1"),
        ("['I hate my skin.', 'Any advice?'", "[1, 0]", "sentences is not a readable list"),
        ("'I hate my skin.'", "[1]", "sentences is not a list of strings"),
        ("['I hate my skin.', 'Any advice?']", "1, 0", "labels is not a list"),
    ],
)
def test_acnempathize_malformed_cells(tmp_path: Path, sentences: str, labels: str, problem: str) -> None:
    path = _write_acn(tmp_path, [_acn_row(sentences=sentences, labels=labels)])
    with pytest.raises(DataError, match=problem) as excinfo:
        acnempathize.load(tmp_path, "valid")
    assert f"{path} (line 2, conv_id 1702)" in _error_text(excinfo)
