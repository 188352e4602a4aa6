"""Bad input gets a DataError naming the file, the record and what was expected; unsafe pickles never load."""

from __future__ import annotations

import io
import json
import pickle
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from emocause.data import load
from emocause.data.io import load_npy_strings
from emocause.errors import DataError

ED_HEADER = "conv_id,utterance_idx,context,prompt,speaker_role,utterance\n"
INTENTS_HEADER = "conv_id,utterance_idx,situation_label,utterance_label\n"


def _ed_root(tmp_path: Path, rows: str, header: str = ED_HEADER) -> Path:
    folder = tmp_path / "empathetic_dialogues"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text(header + rows, encoding="utf-8")
    (folder / "train_intents.csv").write_text(
        INTENTS_HEADER + "c1,1,sad,sad\nc1,2,sad,consoling\n", encoding="utf-8"
    )
    return tmp_path


def _message(excinfo: pytest.ExceptionInfo[DataError]) -> str:
    return str(excinfo.value)


def test_small_valid_ed_file_loads(tmp_path: Path) -> None:
    root = _ed_root(
        tmp_path,
        'c1,1,sad,"I lost my dog, sadly.",speaker,My dog died.\nc1,2,sad,"I lost my dog, sadly.",listener,I am sorry.\n',
    )
    (dialogue,) = load("empathetic_dialogues", "train", root).dialogues
    assert [t.text for t in dialogue.turns] == ["My dog died.", "I am sorry."]
    assert dialogue.situation == "I lost my dog, sadly." and dialogue.turns[1].meta["intent"] == "consoling"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="train.csv: file not found"):
        load("empathetic_dialogues", "train", tmp_path)


def test_git_lfs_pointer(tmp_path: Path) -> None:
    root = _ed_root(tmp_path, "")
    (root / "empathetic_dialogues" / "train.csv").write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", encoding="utf-8"
    )
    with pytest.raises(DataError, match="Git LFS / git-annex pointer"):
        load("empathetic_dialogues", "train", root)


def test_wrong_columns(tmp_path: Path) -> None:
    root = _ed_root(
        tmp_path, "c1,1,sad,x,speaker\n", header="conv_id,utterance_idx,emotion,prompt,speaker_role\n"
    )
    with pytest.raises(DataError) as excinfo:
        load("empathetic_dialogues", "train", root)
    assert "missing column(s) ['context', 'utterance']" in _message(excinfo) and "header" in _message(excinfo)


def test_unknown_label_names_the_line(tmp_path: Path) -> None:
    root = _ed_root(tmp_path, "c1,1,sad,x,speaker,a\nc1,2,elated,x,listener,b\n")
    with pytest.raises(DataError) as excinfo:
        load("empathetic_dialogues", "train", root)
    assert "line 3, conv_id c1" in _message(excinfo) and "unknown emotion label 'elated'" in _message(excinfo)


def test_ragged_row(tmp_path: Path) -> None:
    root = _ed_root(tmp_path, "c1,1,sad,x,speaker\n")
    with pytest.raises(DataError, match=r"line 2.*wrong number of fields"):
        load("empathetic_dialogues", "train", root)


def _reccon_root(tmp_path: Path, text: str) -> Path:
    (tmp_path / "reccon").mkdir()
    (tmp_path / "reccon" / "dailydialog_valid.json").write_text(text, encoding="utf-8")
    return tmp_path


def _reccon_dialogue(**overrides: object) -> str:
    turn = {"turn": 1, "speaker": "A", "utterance": "I won the prize !", "emotion": "happines",
            "expanded emotion cause evidence": [1], "expanded emotion cause span": ["won the prize"]}  # fmt: skip
    turn.update(overrides)
    return json.dumps({"d1": [[turn]]})


def test_reccon_variant_label_is_normalised_and_span_located(tmp_path: Path) -> None:
    (dialogue,) = load("reccon", "valid", _reccon_root(tmp_path, _reccon_dialogue())).dialogues
    (turn,) = dialogue.turns
    assert turn.emotion == "happiness" and turn.cause_turns == [0]
    assert (turn.cause_spans[0].start, turn.cause_spans[0].end) == (2, 15)


def test_reccon_truncated_json(tmp_path: Path) -> None:
    root = _reccon_root(tmp_path, _reccon_dialogue()[:-7])
    with pytest.raises(DataError, match=r"truncated JSON.*|line 1, column"):
        load("reccon", "valid", root)


def test_reccon_evidence_out_of_range(tmp_path: Path) -> None:
    root = _reccon_root(tmp_path, _reccon_dialogue(**{"expanded emotion cause evidence": [4]}))
    with pytest.raises(DataError) as excinfo:
        load("reccon", "valid", root)
    assert "dialogue d1, turn 1" in _message(excinfo) and "turn number 1..1 or 'b'" in _message(excinfo)


def test_reccon_unknown_label(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown emotion label 'bliss'"):
        load("reccon", "valid", _reccon_root(tmp_path, _reccon_dialogue(emotion="bliss")))


def _npy(path: Path, values: list[object]) -> Path:
    array = np.empty(len(values), dtype=object)
    array[:] = values
    np.save(path, array, allow_pickle=True)
    return path


def test_npy_of_strings_and_lists_loads(tmp_path: Path) -> None:
    path = _npy(tmp_path / "ok.npy", [["a", "b"], ["c"]])
    assert load_npy_strings(path) == [["a", "b"], ["c"]]


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (shutil.rmtree, ("/nonexistent-emocause-target",))


def test_npy_refuses_code_in_the_pickle(tmp_path: Path) -> None:
    path = _npy(tmp_path / "evil.npy", [_Payload()])
    with pytest.raises(DataError, match=r"unsafe pickle: refusing to load shutil\.rmtree"):
        load_npy_strings(path)


def test_npy_refuses_non_text_data(tmp_path: Path) -> None:
    path = _npy(tmp_path / "dict.npy", ["fine", {"a": 1}])
    with pytest.raises(DataError, match=r"\(index 1\): element of type dict"):
        load_npy_strings(path)


def test_npy_truncated(tmp_path: Path) -> None:
    path = _npy(tmp_path / "cut.npy", ["some text"] * 50)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="corrupt or truncated pickle"):
        load_npy_strings(path)


def test_plain_pickle_is_not_an_npy(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(pickle.dumps(["a"]))
    with pytest.raises(DataError, match="not a NumPy .npy file"):
        load_npy_strings(path)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Fail instead of hanging: the code under test never gives up by itself when it is wrong."""

    def expire(_signal: int, _frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_npy_refuses_a_pickle_that_reuses_one_list_over_and_over(tmp_path: Path) -> None:
    # Seven levels, each one list holding the level below 100 times: a 1.6 kB file, 10**14 strings to visit.
    level: list[object] = ["x"]
    for _ in range(7):
        level = [level] * 100
    array = np.empty(1, dtype=object)
    array[0] = level
    path = tmp_path / "bomb.npy"
    np.save(path, array, allow_pickle=True)
    assert path.stat().st_size < 2000
    with (
        _deadline(2),
        pytest.raises(DataError, match=r"bomb\.npy: the pickle describes more elements than its \d+ bytes"),
    ):
        load_npy_strings(path)


class _HugeArray:
    """Pickles as NumPy's own array reconstruction, of millions of values the pickle does not hold."""

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        reconstruct = np.empty(0).__reduce__()[0]
        return (reconstruct, (np.ndarray, (5_000_000,), b"b"))


def test_npy_refuses_an_array_larger_than_its_pickle_and_deep_nesting(tmp_path: Path) -> None:
    path = _npy(tmp_path / "huge.npy", [_HugeArray()])
    with pytest.raises(DataError, match=r"huge\.npy \(index 0\): an array inside the array"):
        load_npy_strings(path)
    deep: list[object] = ["x"]
    for _ in range(9):
        deep = [deep]
    path = _npy(tmp_path / "deep.npy", [deep, ["y"]])
    with pytest.raises(DataError, match=r"deep\.npy \(index 0\): lists nested more than 8 deep"):
        load_npy_strings(path)


class _ShortState:
    """An object array whose state holds fewer values than its shape: NumPy itself crashes on it (SIGSEGV)."""

    def __reduce__(self) -> tuple[object, ...]:
        reconstruct = np.empty(0).__reduce__()[0]
        return (reconstruct, (np.ndarray, (0,), b"b"), (1, (1000,), np.dtype("O"), False, ["a"]))


def test_npy_checks_an_array_state_before_numpy_sees_it(tmp_path: Path) -> None:
    """Run in a child process: before the check, loading this file killed the interpreter."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False, "shape": (1000,)})
    path = tmp_path / "short.npy"
    path.write_bytes(header.getvalue() + pickle.dumps(_ShortState(), protocol=4))
    code = (
        "import sys; from pathlib import Path; from emocause.data.io import load_npy_strings\n"
        "try: load_npy_strings(Path(sys.argv[1]))\n"
        "except Exception as e: print(type(e).__name__, e)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "DataError" in result.stdout and "does not fill its shape" in result.stdout


def test_text_that_is_not_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes('\n\n{"doc_id": "caf\u00e9"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.jsonl \(line 3, byte 17\): not UTF-8 text \(byte 0xe9\)"):
        load(str(path), "all")
    root = _ed_root(tmp_path, "c1,1,sad,x,speaker,a\n")
    (root / "empathetic_dialogues" / "train.csv").write_bytes(
        (ED_HEADER + "c1,1,sad,x,speaker,d\u00e9j\u00e0 vu\n").encode("cp1252")
    )
    with pytest.raises(DataError, match=r"train\.csv \(line 2, byte 80\): not UTF-8 text"):
        load("empathetic_dialogues", "train", root)
