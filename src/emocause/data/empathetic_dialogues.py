"""EmpatheticDialogues (Rashkin et al. 2019), with EmpatheticIntents labels and RecEC silver causes joined in.

Files under `empathetic_dialogues/`: `{split}.csv` (one row per turn), `{split}_intents.csv`
(automatic intent/emotion labels per turn), and for valid/test `cause_predictions/{split}_with_cause.json`
(JSON lines: turns a RECCON-trained detector marked as causes of the dialogue's emotion).
"""

from __future__ import annotations

from pathlib import Path

from emocause.data.common import label
from emocause.data.io import iter_jsonl, read_csv, require
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import Dialogue, Turn
from emocause.errors import DataError
from emocause.resources.taxonomies import ED

FOLDER = "empathetic_dialogues"
_COLUMNS = ("conv_id", "utterance_idx", "context", "prompt", "speaker_role", "utterance")
_INTENT_COLUMNS = ("conv_id", "utterance_idx", "situation_label", "utterance_label")
_CAUSE_SPLITS = ("valid", "test")


def _files(split: str) -> list[str]:
    files = [f"{FOLDER}/{split}.csv", f"{FOLDER}/{split}_intents.csv"]
    if split in _CAUSE_SPLITS:
        files.append(f"{FOLDER}/cause_predictions/{split}_with_cause.json")
    return files


def _turn_index(value: str, path: Path, line: int) -> int:
    try:
        index = int(value)
    except ValueError:
        raise DataError(path, f"utterance_idx {value!r} is not a number", where=f"line {line}") from None
    if index < 1:
        raise DataError(
            path, f"utterance_idx {index} is below 1", where=f"line {line}", expected="1-based turn numbers"
        )
    return index


def _read_dialogues(path: Path, split: str) -> dict[str, Dialogue]:
    dialogues: dict[str, Dialogue] = {}
    for line, row in read_csv(path, _COLUMNS):
        where = f"line {line}, conv_id {row['conv_id']}"
        role = row["speaker_role"]
        if role not in ("speaker", "listener"):
            raise DataError(path, f"speaker_role {role!r}", where=where, expected="'speaker' or 'listener'")
        emotion = label(ED, row["context"], path, where)
        dialogue = dialogues.get(row["conv_id"])
        if dialogue is None:
            dialogue = Dialogue(
                id=row["conv_id"],
                source="empathetic_dialogues",
                split=split,
                turns=[],
                emotion=emotion,
                situation=row["prompt"],
            )
            dialogues[row["conv_id"]] = dialogue
        if _turn_index(row["utterance_idx"], path, line) != len(dialogue.turns) + 1:
            raise DataError(
                path,
                f"turn {row['utterance_idx']} out of order",
                where=where,
                expected=f"turn {len(dialogue.turns) + 1}",
            )
        dialogue.turns.append(Turn(role=role, text=row["utterance"]))  # type: ignore[arg-type]
    return dialogues


def _join_intents(path: Path, dialogues: dict[str, Dialogue], result: LoadResult) -> None:
    for line, row in read_csv(path, _INTENT_COLUMNS):
        dialogue = dialogues.get(row["conv_id"])
        index = _turn_index(row["utterance_idx"], path, line) - 1
        if dialogue is None or index >= len(dialogue.turns):
            result.problem("intent label for a turn that the dialogue file lacks")
            continue
        dialogue.meta["situation_label"] = row["situation_label"]
        dialogue.turns[index].meta["intent"] = row["utterance_label"]


def _join_causes(path: Path, dialogues: dict[str, Dialogue], result: LoadResult) -> None:
    for line, record in iter_jsonl(path):
        require(record, ("conv_id", "utters", "emotion_cause"), path, f"line {line}")
        dialogue = dialogues.get(record["conv_id"])
        if dialogue is None:
            result.problem("silver causes for a conversation absent from the dialogue file")
            continue
        if len(record["utters"]) != len(dialogue.turns):
            result.problem("silver causes not joined: turn count differs from the dialogue file")
            continue
        causes = record["emotion_cause"]
        if not all(isinstance(c, int) and 0 <= c < len(dialogue.turns) for c in causes):
            raise DataError(
                path,
                f"emotion_cause {causes} outside the dialogue's {len(dialogue.turns)} turns",
                where=f"line {line}",
            )
        dialogue.cause_turns = sorted(causes)
        dialogue.cause_labels = "silver"


def load_empathetic_dialogues(root: Path, split: str) -> LoadResult:
    result = LoadResult()
    folder = root / FOLDER
    dialogues = _read_dialogues(folder / f"{split}.csv", split)
    _join_intents(folder / f"{split}_intents.csv", dialogues, result)
    if split in _CAUSE_SPLITS:
        _join_causes(folder / "cause_predictions" / f"{split}_with_cause.json", dialogues, result)
    result.dialogues = list(dialogues.values())
    return result


register(
    DatasetSpec(
        name="empathetic_dialogues",
        description="EmpatheticDialogues: 32 emotions, situations, speaker/listener turns; intents; silver causes (valid/test)",
        splits=("train", "valid", "test"),
        files=_files,
        loader=load_empathetic_dialogues,
        expected={"train": 19_532, "valid": 2_769, "test": 2_546},
    )
)
