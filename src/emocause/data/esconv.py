"""ESConv (Liu et al. 2021): emotional-support conversations with the supporter's strategy per turn.

`esconv/{split}.json` holds one conversation object per line (JSON lines, despite the extension).
"""

from __future__ import annotations

from pathlib import Path

from emocause.data.common import label
from emocause.data.io import iter_jsonl, require
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import Dialogue, Turn
from emocause.errors import DataError
from emocause.resources.taxonomies import ESCONV

FOLDER = "esconv"
_ROLES = {"usr": "speaker", "sys": "listener"}
STRATEGIES = (
    "Question", "Restatement or Paraphrasing", "Reflection of feelings", "Self-disclosure",
    "Affirmation and Reassurance", "Providing Suggestions", "Information", "Others",
)  # fmt: skip


def load_esconv(root: Path, split: str) -> LoadResult:
    result = LoadResult()
    path = root / FOLDER / f"{split}.json"
    for line, record in iter_jsonl(path):
        where = f"line {line}"
        require(record, ("emotion_type", "problem_type", "situation", "dialog"), path, where)
        turns = []
        for i, raw in enumerate(record["dialog"]):
            require(raw, ("text", "speaker"), path, f"{where}, turn {i + 1}")
            if raw["speaker"] not in _ROLES:
                raise DataError(
                    path,
                    f"speaker {raw['speaker']!r}",
                    where=f"{where}, turn {i + 1}",
                    expected="'usr' or 'sys'",
                )
            turn = Turn(role=_ROLES[raw["speaker"]], text=raw["text"], speaker_name=raw["speaker"])  # type: ignore[arg-type]
            strategy = raw.get("strategy")
            if strategy is not None:
                if strategy not in STRATEGIES:
                    raise DataError(
                        path,
                        f"strategy {strategy!r}",
                        where=f"{where}, turn {i + 1}",
                        expected=f"one of {list(STRATEGIES)}",
                    )
                turn.meta["strategy"] = strategy
            turns.append(turn)
        result.dialogues.append(
            Dialogue(
                id=f"esconv-{split}-{line}",
                source="esconv",
                split=split,
                turns=turns,
                emotion=label(ESCONV, record["emotion_type"], path, where),
                situation=record["situation"],
                meta={k: record.get(k) for k in ("problem_type", "experience_type", "survey_score")},
            )
        )
    return result


register(
    DatasetSpec(
        name="esconv",
        description="ESConv: seeker/supporter conversations, emotion type, problem, situation, 8 support strategies",
        splits=("train", "valid", "test"),
        files=lambda split: [f"{FOLDER}/{split}.json"],
        loader=load_esconv,
        expected={"train": 910, "valid": 195, "test": 195},
    )
)
