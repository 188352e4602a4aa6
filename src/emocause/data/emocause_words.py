"""EmoCause (Kim, Kim & Kim 2021): word-level emotion cause labels on EmpatheticDialogues situations.

The release (skywalker023/focused-empathy, `emocause.zip`, unpacked by its ParlAI teacher into
`<datapath>/emocause/`) holds `valid.json` and `test.json`; there is no training set. Each file is a JSON
list of records:

    original_situation   the situation as written in EmpatheticDialogues
    tokenized_situation  the situation tokenized with spaCy
    emotion              the ED emotion label
    conv_id              the ED conversation id ("hit:3_conv:6")
    annotation           [[cause word, token index], ...]
    labels               the cause words again, as strings (not read: `annotation` carries them)

Each record becomes a one-turn `Dialogue` (source "emocause"): the speaker turn's text is
`original_situation` with ED's `_comma_` escape restored to ",". Where a record has no usable
`original_situation`, the tokens joined with single spaces are the turn text instead, and the turn's
`meta["text_from_tokens"]` is True. Cause words become `CauseSpan`s whose character offsets come from
aligning the tokens to the turn text. The token index of an annotation is taken as 0-based into
`tokenized_situation` (assumed: the release does not say); an index that does not point at its word is
moved to the nearest token spelling that word and counted as a problem, and a word found nowhere is
counted and dropped. `turn.meta` keeps `tokens` and `cause_word_indices` (the resolved token indices).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emocause.data.common import label
from emocause.data.io import read_json, require
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import CauseSpan, Dialogue, Turn
from emocause.errors import DataError
from emocause.resources.taxonomies import ED

NAME = "emocause"
SPLITS = ("valid", "test")
_REQUIRED = ("conv_id", "tokenized_situation", "emotion", "annotation")
_ED_COMMA = "_comma_"

_Offsets = tuple[int, int] | None


def files(split: str) -> list[str]:
    return [f"emocause/{split}.json"]


def load(root: Path, split: str) -> LoadResult:
    path = Path(root) / files(split)[0]
    records = read_json(path)
    if not isinstance(records, list):
        raise DataError(
            path, f"top level is a JSON {type(records).__name__}", expected="a JSON list of records"
        )
    result = LoadResult()
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        dialogue = _dialogue(record, path, f"record {index}", split, result)
        if dialogue is None:
            continue
        # Dialogue ids must be unique within a split; a repeated conv_id keeps both records.
        seen[dialogue.id] = seen.get(dialogue.id, 0) + 1
        if seen[dialogue.id] > 1:
            result.problem("repeated conv_id")
            dialogue.id = f"{dialogue.id}#{seen[dialogue.id]}"
        result.dialogues.append(dialogue)
    return result


def _dialogue(record: Any, path: Path, where: str, split: str, result: LoadResult) -> Dialogue | None:
    require(record, _REQUIRED, path, where)
    conv_id = str(record["conv_id"])
    where = f"{where}, conv_id {conv_id}"
    emotion = _emotion(record["emotion"], path, where)
    tokens = _tokens(record["tokenized_situation"], path, where)
    annotation = _annotation(record["annotation"], path, where)
    words = [t for t in tokens if t.strip()]
    if not words:
        result.skip("empty situation")
        return None
    original = record.get("original_situation")
    text_from_tokens = not isinstance(original, str) or not original.strip()
    text = " ".join(words) if text_from_tokens else original.replace(_ED_COMMA, ",")
    offsets = _align(tokens, text)
    spans, indices = _cause_spans(annotation, tokens, offsets, text, result)
    turn = Turn(
        role="speaker",
        text=text,
        emotion=emotion,
        cause_turns=[0] if spans else [],
        cause_spans=spans,
        meta={"tokens": tokens, "cause_word_indices": indices, "text_from_tokens": text_from_tokens},
    )
    return Dialogue(
        id=conv_id,
        source=NAME,
        split=split,
        turns=[turn],
        emotion=emotion,
        situation=text,
        cause_labels="gold",
        meta={"conv_id": conv_id},
    )


def _emotion(value: Any, path: Path, where: str) -> str:
    if not isinstance(value, str):
        raise DataError(
            path, f"emotion is a {type(value).__name__}", where=where, expected="an ED emotion label"
        )
    # The release's ParlAI code spells the label candidates "__afraid__"; accept that spelling too.
    return label(ED, value.strip().strip("_"), path, where)


def _tokens(value: Any, path: Path, where: str) -> list[str]:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise DataError(path, "tokenized_situation is not a list of strings", where=where)
    # Whitespace tokens (spaCy keeps runs of spaces) stay: annotation indices count them.
    return [t.replace(_ED_COMMA, ",") for t in value]


def _annotation(value: Any, path: Path, where: str) -> list[tuple[str, int]]:
    if not isinstance(value, list):
        raise DataError(
            path, f"annotation is a {type(value).__name__}", where=where, expected="a list of [word, index]"
        )
    pairs = []
    for item in value:
        valid = (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int)
            and not isinstance(item[1], bool)
        )
        if not valid:
            raise DataError(
                path, f"bad annotation entry {item!r}", where=where, expected="[word, token index]"
            )
        pairs.append((item[0], item[1]))
    return pairs


def _align(tokens: list[str], text: str) -> list[_Offsets]:
    """Character offsets of each token in `text`, in order; None for a token that cannot be placed.

    Only whitespace may separate consecutive placed tokens, except right after a token that could not
    be placed, whose own text is skipped over. Whitespace tokens get None. Matching ignores case where
    lower-casing keeps the text's length (so that offsets stay valid).
    """
    fold = len(text.lower()) == len(text)
    haystack = text.lower() if fold else text
    offsets: list[_Offsets] = []
    cursor = 0
    after_miss = False
    for token in tokens:
        if not token.strip():
            offsets.append(None)
            continue
        start = haystack.find(token.lower() if fold else token, cursor)
        if start < 0 or (not after_miss and text[cursor:start].strip()):
            offsets.append(None)
            after_miss = True
            continue
        offsets.append((start, start + len(token)))
        cursor = start + len(token)
        after_miss = False
    return offsets


def _cause_spans(
    annotation: list[tuple[str, int]],
    tokens: list[str],
    offsets: list[_Offsets],
    text: str,
    result: LoadResult,
) -> tuple[list[CauseSpan], list[int]]:
    spans: list[CauseSpan] = []
    indices: list[int] = []
    for word, index in annotation:
        position = _resolve(word, index, tokens, result)
        if position is None or position in indices:
            continue
        span = offsets[position]
        if span is None:
            result.problem("cause word not found in the situation text")
            continue
        indices.append(position)
        spans.append(CauseSpan(turn=0, start=span[0], end=span[1], text=text[span[0] : span[1]]))
    ordered = sorted(zip(spans, indices, strict=True), key=lambda pair: pair[0].start)
    return [span for span, _ in ordered], [index for _, index in ordered]


def _resolve(word: str, index: int, tokens: list[str], result: LoadResult) -> int | None:
    """The token index of an annotated word: `index` if it points at the word, else the nearest match."""
    key = word.strip().lower()
    if 0 <= index < len(tokens) and tokens[index].lower() == key:
        return index
    matches = [i for i, token in enumerate(tokens) if token.lower() == key]
    if not matches:
        result.problem("cause word not among the tokens")
        return None
    result.problem("annotation index does not point at its word")
    return min(matches, key=lambda i: abs(i - index))


register(
    DatasetSpec(
        name=NAME,
        description="EmoCause (Kim et al. 2021): word-level emotion cause labels on ED situations (valid/test only)",
        splits=SPLITS,
        files=files,
        loader=load,
        available_offline=False,
    )
)
