"""ECC (He et al. 2025): LLM-generated dialogues with an emotion sentence and its cause sentence.

Two forms exist:
- `ecc`: `ecc/ECC_{dev,test}_ALL.jsonl`, whole dialogues with the ATOMIC seed (head, tail), the
  situation (narrative) and one emotion-cause pair of 1-based turn numbers, the sentences quoted in
  `EC_pair_clause`. The emotion turn gets the cause turn and the located cause sentence.
- `ecc_examples`: `ecc/npy/sys_*_texts.{train,dev,test}.npy`, the CEM-style context/response examples
  (every prefix of a dialogue), the only copy of the train split. These are pickled NumPy arrays, read
  through the data-only loader. An example's cause sentence is located in its turns where the prefix
  already contains it; otherwise it stays in `meta["cause_sentence"]` only.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from emocause.data.common import alternating_roles, label, locate
from emocause.data.io import iter_jsonl, load_npy_strings, require
from emocause.data.registry import DatasetSpec, LoadResult, register, register_file_format
from emocause.data.schema import Dialogue, Turn
from emocause.errors import DataError
from emocause.resources.taxonomies import ECC, ecc_category

FOLDER = "ecc"
_FILE_SPLIT = {"train": "train", "valid": "dev", "test": "test"}
_PAIR = re.compile(r'^\s*Emotion:\s*"?(?P<emotion>.*?)"?\s*\n\s*Cause:\s*"?(?P<cause>.*?)"?\s*$', re.DOTALL)
_FIELDS = ("doc_id", "pairs", "EC_pair_clause", "dialogue", "head", "tail", "narrative")
_ARRAYS = ("dialog", "target", "situation", "emotion", "ecpairs")


def parse_pair_clause(text: str) -> tuple[str, str] | None:
    """("emotion sentence", "cause sentence") from an `Emotion: ...\\nCause: ...` clause."""
    match = _PAIR.match(text)
    return (match["emotion"], match["cause"]) if match else None


def _dialogue_from_record(
    record: dict[str, Any], split: str, path: Path, where: str, result: LoadResult
) -> Dialogue:
    require(record, _FIELDS, path, where)
    raws = record["dialogue"]
    pairs = record["pairs"]
    if not (isinstance(pairs, list) and pairs and all(isinstance(p, list) and len(p) == 2 for p in pairs)):
        raise DataError(
            path, f"pairs {pairs!r}", where=where, expected="[[emotion_turn, cause_turn], ...] (1-based)"
        )
    for i, raw in enumerate(raws):
        require(raw, ("speaker", "utterance", "emotion"), path, f"{where}, turn {i + 1}")
    emotion_turn = pairs[0][0] - 1
    if not 0 <= emotion_turn < len(raws):
        raise DataError(path, f"emotion turn {pairs[0][0]} outside {len(raws)} turns", where=where)
    sharer = raws[emotion_turn]["speaker"]
    turns = [
        Turn(
            role="speaker" if raw["speaker"] == sharer else "listener",
            text=raw["utterance"],
            emotion=label(ECC, raw["emotion"], path, f"{where}, turn {i + 1}") if raw["emotion"] else None,
            speaker_name=raw["speaker"],
        )
        for i, raw in enumerate(raws)
    ]
    sentences = parse_pair_clause(record["EC_pair_clause"])
    if sentences is None:
        raise DataError(path, "EC_pair_clause is not 'Emotion: ...\\nCause: ...'", where=where)
    for emotion_number, cause_number in pairs:
        if not (1 <= emotion_number <= len(turns) and 1 <= cause_number <= len(turns)):
            raise DataError(
                path, f"pair {[emotion_number, cause_number]} outside {len(turns)} turns", where=where
            )
        turn = turns[emotion_number - 1]
        turn.cause_turns.append(cause_number - 1)
        span = locate(turns[cause_number - 1].text, sentences[1], cause_number - 1)
        if span is None:
            result.problem("cause sentence not found verbatim in its cause turn")
        else:
            turn.cause_spans.append(span)
    turns[emotion_turn].meta["emotion_sentence"] = sentences[0]
    emotion = turns[emotion_turn].emotion or ecc_category(record["tail"])
    return Dialogue(
        id=str(record["doc_id"]),
        source="ecc",
        split=split,
        turns=turns,
        emotion=emotion,
        situation=record["narrative"],
        cause_labels="gold",
        meta={
            "head": record["head"],
            "tail": record["tail"],
            "sentence": record.get("sentence"),
            **({"provenance": record["provenance"]} if "provenance" in record else {}),
        },
    )


def read_ecc_jsonl(path: Path, split: str = "all") -> LoadResult:
    """Every dialogue of an ECC-format JSONL file (the released files, or an EC-DD generation run)."""
    result = LoadResult()
    for line, record in iter_jsonl(path):
        result.dialogues.append(_dialogue_from_record(record, split, path, f"line {line}", result))
    return result


def load_ecc(root: Path, split: str) -> LoadResult:
    return read_ecc_jsonl(root / FOLDER / f"ECC_{_FILE_SPLIT[split]}_ALL.jsonl", split)


def _example(index: int, arrays: dict[str, Any], split: str, path: Path, result: LoadResult) -> Dialogue:
    context = arrays["dialog"][index]
    where = f"example {index}"
    if not isinstance(context, list) or not all(isinstance(t, str) for t in context):
        raise DataError(path, "context is not a list of strings", where=where)
    texts = [*context, arrays["target"][index]]
    # The response to generate is the listener's; the context alternates back from the sharer's last turn.
    turns = [
        Turn(role=role, text=text)
        for role, text in zip(alternating_roles(len(texts), last="listener"), texts)
    ]
    sentences = parse_pair_clause(arrays["ecpairs"][index])
    if sentences is None:
        raise DataError(path, "ecpairs entry is not 'Emotion: ...\\nCause: ...'", where=where)
    dialogue = Dialogue(
        id=f"ecc-{split}-{index}",
        source="ecc_examples",
        split=split,
        turns=turns,
        emotion=label(ECC, arrays["emotion"][index], path, where),
        situation=arrays["situation"][index],
        cause_labels="gold",
        meta={"emotion_sentence": sentences[0], "cause_sentence": sentences[1]},
    )
    for turn_index, turn in enumerate(turns):
        span = locate(turn.text, sentences[1], turn_index)
        if span is not None:
            dialogue.cause_turns.append(turn_index)
            dialogue.cause_spans.append(span)
            break
    else:
        result.problem("cause sentence not in the example's context prefix (kept in meta only)")
    return dialogue


def load_ecc_examples(root: Path, split: str) -> LoadResult:
    result = LoadResult()
    folder = root / FOLDER / "npy"
    paths = {name: folder / f"sys_{name}_texts.{_FILE_SPLIT[split]}.npy" for name in _ARRAYS}
    arrays = {name: load_npy_strings(path) for name, path in paths.items()}
    sizes = {name: len(values) for name, values in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise DataError(
            folder,
            f"arrays of {split} differ in length: {sizes}",
            expected="one entry per example in every array",
        )
    result.dialogues = [_example(i, arrays, split, paths["dialog"], result) for i in range(sizes["dialog"])]
    return result


register(
    DatasetSpec(
        name="ecc",
        description="ECC dialogues (JSONL): ATOMIC seed, situation, ECC-11 emotion, emotion/cause turn pair and sentence",
        splits=("valid", "test"),
        files=lambda split: [f"{FOLDER}/ECC_{_FILE_SPLIT[split]}_ALL.jsonl"],
        loader=load_ecc,
        expected={"valid": 241, "test": 239},
    )
)
register(
    DatasetSpec(
        name="ecc_examples",
        description="ECC context/response examples (CEM-style .npy, the only train split): emotion, situation, cause sentence",
        splits=("train", "valid", "test"),
        files=lambda split: [f"{FOLDER}/npy/sys_{n}_texts.{_FILE_SPLIT[split]}.npy" for n in _ARRAYS],
        loader=load_ecc_examples,
        expected={"train": 7_376, "valid": 854, "test": 896},
    )
)
register_file_format(".jsonl", "ECC-format JSONL (as `emocause ecdd run` writes)", read_ecc_jsonl)
