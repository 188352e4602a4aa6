"""DailyDialog (Li et al. 2017), ConvLab-3 unified version: utterance emotions (Ekman-7) and dialogue acts.

`dailydialog/dailydialog.jsonl` holds every split; the `split` field says which ("validation" -> valid).
"""

from __future__ import annotations

from pathlib import Path

from emocause.data.common import label
from emocause.data.io import iter_jsonl, require
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import Dialogue, Turn
from emocause.errors import DataError
from emocause.resources.taxonomies import EKMAN

FILE = "dailydialog/dailydialog.jsonl"
_SPLITS = {"train": "train", "validation": "valid", "valid": "valid", "test": "test"}
_FIELDS = ("dialogue_id", "split", "utterances", "speakers", "emotions", "acts")


def load_dailydialog(root: Path, split: str) -> LoadResult:
    result = LoadResult()
    path = root / FILE
    for line, record in iter_jsonl(path):
        where = f"line {line}"
        require(record, _FIELDS, path, where)
        if record["split"] not in _SPLITS:
            raise DataError(
                path, f"split {record['split']!r}", where=where, expected=f"one of {list(_SPLITS)}"
            )
        if _SPLITS[record["split"]] != split:
            continue
        lengths = {len(record[k]) for k in ("utterances", "speakers", "emotions", "acts")}
        if len(lengths) != 1:
            raise DataError(path, "utterances, speakers, emotions and acts differ in length", where=where)
        first = record["speakers"][0]
        turns = [
            Turn(
                role="speaker" if speaker == first else "listener",
                text=text,
                emotion=label(EKMAN, emotion, path, f"{where}, turn {i + 1}"),
                speaker_name=speaker,
                meta={"acts": acts},
            )
            for i, (text, speaker, emotion, acts) in enumerate(
                zip(record["utterances"], record["speakers"], record["emotions"], record["acts"])
            )
        ]
        result.dialogues.append(
            Dialogue(
                id=record["dialogue_id"],
                source="dailydialog",
                split=split,
                turns=turns,
                meta={"topic": record.get("topic")},
            )
        )
    return result


register(
    DatasetSpec(
        name="dailydialog",
        description="DailyDialog: everyday dialogues with utterance emotions (Ekman-7) and dialogue acts",
        splits=("train", "valid", "test"),
        files=lambda split: [FILE],
        loader=load_dailydialog,
        expected={"train": 11_118, "valid": 1_000, "test": 1_000},
    )
)
