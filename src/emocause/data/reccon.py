"""RECCON-DD (Poria et al. 2021): utterance emotions, cause evidence turns and cause spans; plus the
COMET-ATOMIC-2020 inferences per turn that exist for its valid and test splits.

`reccon/dailydialog_{split}.json` is `{dialogue_id: [[turn, ...]]}`. Evidence is 1-based in the file
(0-based here); "b" marks a cause outside the dialogue. Each cause span is aligned with its evidence
turn and located there by character offsets. Fold 1 of the original repository is these splits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emocause.data.common import label, locate
from emocause.data.io import read_json, require
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import Dialogue, Turn
from emocause.errors import DataError
from emocause.resources.taxonomies import EKMAN

FOLDER = "reccon"
EVIDENCE = "expanded emotion cause evidence"
SPANS = "expanded emotion cause span"
_COMET_FILE = {"valid": "dev", "test": "test"}


def _turn(raw: dict[str, Any], first_speaker: str | None, path: Path, where: str) -> Turn:
    require(raw, ("speaker", "utterance", "emotion"), path, where)
    turn = Turn(
        role="speaker" if raw["speaker"] == first_speaker else "listener",
        text=raw["utterance"],
        emotion=label(EKMAN, raw["emotion"], path, where),
        speaker_name=raw["speaker"],
    )
    if raw.get("type"):
        turn.meta["cause_type"] = raw["type"]
    return turn


def _attach_causes(
    turns: list[Turn], raws: list[dict[str, Any]], path: Path, dialogue_id: str, result: LoadResult
) -> None:
    for index, (turn, raw) in enumerate(zip(turns, raws)):
        evidence = raw.get(EVIDENCE) or []
        spans = raw.get(SPANS) or []
        where = f"dialogue {dialogue_id}, turn {index + 1}"
        if len(spans) != len(evidence):
            raise DataError(
                path,
                f"{len(evidence)} evidence turns but {len(spans)} spans",
                where=where,
                expected="one span per evidence turn",
            )
        for source, span in zip(evidence, spans):
            if source == "b":
                turn.cause_outside = True
                continue
            if not isinstance(source, int) or not 1 <= source <= len(turns):
                raise DataError(
                    path,
                    f"cause evidence {source!r}",
                    where=where,
                    expected=f"a turn number 1..{len(turns)} or 'b'",
                )
            if source - 1 not in turn.cause_turns:
                turn.cause_turns.append(source - 1)
            located = locate(turns[source - 1].text, span, source - 1)
            if located is None:
                result.problem("cause span not found in its evidence turn (kept as evidence only)")
            else:
                turn.cause_spans.append(located)


def _read_split(root: Path, split: str, result: LoadResult) -> list[Dialogue]:
    path = root / FOLDER / f"dailydialog_{split}.json"
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(
            path, f"top level is a {type(data).__name__}", expected="an object {dialogue_id: [[turn, ...]]}"
        )
    dialogues = []
    for dialogue_id, wrapped in data.items():
        if not (
            isinstance(wrapped, list) and len(wrapped) == 1 and isinstance(wrapped[0], list) and wrapped[0]
        ):
            raise DataError(
                path, "dialogue is not a one-element list of turns", where=f"dialogue {dialogue_id}"
            )
        raws = wrapped[0]
        first = raws[0].get("speaker") if isinstance(raws[0], dict) else None
        turns = [
            _turn(raw, first, path, f"dialogue {dialogue_id}, turn {i + 1}") for i, raw in enumerate(raws)
        ]
        _attach_causes(turns, raws, path, dialogue_id, result)
        dialogues.append(
            Dialogue(id=dialogue_id, source="reccon", split=split, turns=turns, cause_labels="gold")
        )
    return dialogues


def load_reccon(root: Path, split: str) -> LoadResult:
    result = LoadResult()
    result.dialogues = _read_split(root, split, result)
    return result


def load_reccon_comet(root: Path, split: str) -> LoadResult:
    """RECCON dialogues with each turn's COMET inferences in `turn.meta["comet"]` ({relation: [5 tails]}).

    The COMET file lists the same dialogues in the same order; each pair is checked by its utterances,
    and a dialogue that does not match is reported rather than joined to the wrong one.
    """
    result = LoadResult()
    dialogues = _read_split(root, split, result)
    path = root / FOLDER / "comet" / f"reccon_dd_{_COMET_FILE[split]}_with_comet.json"
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError(path, f"top level is a {type(records).__name__}", expected="a list of dialogues")
    if len(records) != len(dialogues):
        result.problem(f"COMET file has {len(records)} dialogues, RECCON {split} has {len(dialogues)}")
    for index, (dialogue, record) in enumerate(zip(dialogues, records)):
        require(record, ("turns",), path, f"dialogue {index}")
        raws = record["turns"]
        for i, raw in enumerate(raws):
            require(raw, ("utterance", "comet"), path, f"dialogue {index}, turn {i + 1}")
        if [raw["utterance"] for raw in raws] != [t.text for t in dialogue.turns]:
            result.problem("COMET dialogue does not match the RECCON dialogue at its position (not joined)")
            continue
        for turn, raw in zip(dialogue.turns, raws):
            turn.meta["comet"] = raw["comet"]
            if "act" in raw:
                turn.meta["act"] = raw["act"]
    result.dialogues = dialogues
    return result


register(
    DatasetSpec(
        name="reccon",
        description="RECCON-DD: utterance emotions (Ekman-7), cause evidence turns and located cause spans",
        splits=("train", "valid", "test"),
        files=lambda split: [f"{FOLDER}/dailydialog_{split}.json"],
        loader=load_reccon,
        expected={"train": 834, "valid": 47, "test": 225},
    )
)
register(
    DatasetSpec(
        name="reccon_comet",
        description="RECCON-DD valid/test with COMET-ATOMIC-2020 (BART) inferences, 10 relations x 5, per turn",
        splits=("valid", "test"),
        files=lambda split: [
            f"{FOLDER}/dailydialog_{split}.json",
            f"{FOLDER}/comet/reccon_dd_{_COMET_FILE[split]}_with_comet.json",
        ],
        loader=load_reccon_comet,
        expected={"valid": 47, "test": 225},
    )
)
