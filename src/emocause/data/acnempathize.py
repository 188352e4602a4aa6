"""AcnEmpathize-Cause (Bandera, Lee & Parde 2025): which sentences of an acne.org initial post caused the
empathy of a reply.

What the paper establishes: one record per (initial post, empathetic reply) pair; the post split into
sentences (spans ending in punctuation); a list of 0/1 labels, one per sentence in order, 1 marking a
cause of the reply's empathy; the reply; and AcnEmpathize metadata (URLs, titles, user ids). The release
(github.com/CalliopeBandera/Empathy-Cause-Identification) could not be read, so the file layout below is
ASSUMED, modelled on the base AcnEmpathize release (a pandas CSV with `url, title, post_id, user_id,
text, ..., conv_id`) and on the paper's prompt, which shows sentence lists as Python list literals:

    acnempathize/acnempathize_cause.csv   one row per pair; required columns
        conv_id     the AcnEmpathize thread id
        sentences   the post's sentences, a list literal (JSON or Python syntax)
        labels      one 0/1 per sentence, a list literal; "0"/"1" strings are accepted
        reply       the reply's text
    every other column is kept, as a string, in `Dialogue.meta`.

The release has no fixed split (the paper splits 80/10/10 at random), so this loader assigns each thread
to train/valid/test (80/10/10) by a hash of its conv_id: stable across runs and machines, and every
reply to one post lands in the same split.

Each pair becomes a `Dialogue` (source "acnempathize_cause"): turn 0 is the post (speaker), its text the
sentences joined by single spaces, with `meta["sentences"]` and `meta["sentence_labels"]`; turn 1 is the
reply (listener). As everywhere in the schema, the causes sit on the turn they explain: the reply's
`cause_turns` is [0] and its `cause_spans` are the labelled post sentences, with offsets into the post.
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

from emocause.data.io import read_csv
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import CauseSpan, Dialogue, Turn
from emocause.errors import DataError

NAME = "acnempathize_cause"
SPLITS = ("train", "valid", "test")
FILE = "acnempathize/acnempathize_cause.csv"
_REQUIRED = ("conv_id", "sentences", "labels", "reply")
_SPLIT_BUCKETS = {"valid": (8,), "test": (9,), "train": tuple(range(8))}
"""Buckets (sha256 of conv_id mod 10) of each split: 80/10/10 as in the paper."""


def files(split: str) -> list[str]:
    return [FILE]


def split_of(conv_id: str) -> str:
    bucket = int(hashlib.sha256(conv_id.encode("utf-8")).hexdigest(), 16) % 10
    return next(split for split, buckets in _SPLIT_BUCKETS.items() if bucket in buckets)


def load(root: Path, split: str) -> LoadResult:
    path = Path(root) / FILE
    result = LoadResult()
    replies_per_thread: dict[str, int] = {}
    for line, row in read_csv(path, _REQUIRED):
        conv_id = row["conv_id"].strip()
        where = f"line {line}, conv_id {conv_id}"
        if not conv_id:
            raise DataError(path, "empty conv_id", where=where)
        # Every row is checked, whatever its split, so that a broken file fails for every split alike.
        sentences, labels = _sentences_and_labels(row, path, where)
        if split_of(conv_id) != split:
            continue
        if not any(s.strip() for s in sentences):
            result.skip("post without text")
            continue
        if not row["reply"].strip():
            result.skip("empty reply")
            continue
        replies_per_thread[conv_id] = replies_per_thread.get(conv_id, 0) + 1
        dialogue_id = f"{conv_id}/{replies_per_thread[conv_id]}"
        result.dialogues.append(_dialogue(dialogue_id, row, sentences, labels, split, result))
    return result


def _sentences_and_labels(row: dict[str, str], path: Path, where: str) -> tuple[list[str], list[int]]:
    sentences = _string_list(row["sentences"], "sentences", path, where)
    labels = _labels(row["labels"], path, where)
    if len(labels) != len(sentences):
        raise DataError(
            path,
            f"{len(labels)} labels for {len(sentences)} sentences",
            where=where,
            expected="one label per sentence",
        )
    return sentences, labels


def _dialogue(
    dialogue_id: str,
    row: dict[str, str],
    sentences: list[str],
    labels: list[int],
    split: str,
    result: LoadResult,
) -> Dialogue:
    meta = {k: v for k, v in row.items() if k not in ("sentences", "labels", "reply")}
    return post_reply_dialogue(dialogue_id, NAME, split, sentences, labels, row["reply"], meta, result)


def post_reply_dialogue(
    dialogue_id: str,
    source: str,
    split: str,
    sentences: list[str],
    labels: list[int],
    reply: str,
    meta: dict[str, Any],
    result: LoadResult,
) -> Dialogue:
    """The empathy-cause layout: a post turn (its sentences and 0/1 labels in meta) and the reply turn."""
    text, spans = _post_text(sentences, labels, result)
    post = Turn(role="speaker", text=text, meta={"sentences": sentences, "sentence_labels": labels})
    answer = Turn(role="listener", text=reply, cause_turns=[0] if spans else [], cause_spans=spans)
    return Dialogue(
        id=dialogue_id, source=source, split=split, turns=[post, answer], cause_labels="gold", meta=meta
    )


def _post_text(sentences: list[str], labels: list[int], result: LoadResult) -> tuple[str, list[CauseSpan]]:
    spans = []
    start = 0
    for sentence, label in zip(sentences, labels, strict=True):
        if label and sentence.strip():
            spans.append(CauseSpan(turn=0, start=start, end=start + len(sentence), text=sentence))
        elif label:
            result.problem("empty sentence labelled as a cause")
        start += len(sentence) + 1
    return " ".join(sentences), spans


def _literal(cell: str, column: str, path: Path, where: str) -> Any:
    """A list cell written as JSON or as a Python literal (pandas writes lists with `repr`)."""
    try:
        return json.loads(cell)
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(cell.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise DataError(
            path, f"{column} is not a readable list: {cell[:60]!r}", where=where, expected="a list literal"
        ) from None


def _string_list(cell: str, column: str, path: Path, where: str) -> list[str]:
    value = _literal(cell, column, path, where)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(path, f"{column} is not a list of strings", where=where)
    return value


def _labels(cell: str, path: Path, where: str) -> list[int]:
    value = _literal(cell, "labels", path, where)
    if not isinstance(value, list):
        raise DataError(path, "labels is not a list", where=where, expected="a list of 0/1")
    labels = []
    for item in value:
        if item in ("0", "1") or (type(item) is int and item in (0, 1)):
            labels.append(int(item))
        else:
            raise DataError(path, f"label {item!r} is not 0 or 1", where=where)
    return labels


register(
    DatasetSpec(
        name=NAME,
        description="AcnEmpathize-Cause (Bandera et al. 2025): post sentences that caused a reply's empathy",
        splits=SPLITS,
        files=files,
        loader=load,
        available_offline=False,
    )
)
