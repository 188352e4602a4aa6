"""Empathy-cause sets derived from corpora we hold, in the AcnEmpathize-Cause layout (post sentences with
0/1 cause labels, and a reply), so that the empathy-cause model trains and is scored on real data.

`ecc_empathy_cause` (from `ecc_examples`, every split): the post is the emotional speaker's turns up to and
including the last turn that holds the annotated cause sentence; the reply is the listener turn right after
it. A post sentence is a cause when it overlaps the annotated cause span. Dialogues without a located cause
span, or with no listener turn after the post, are skipped and counted.

`reccon_empathy_cause` (from `reccon`): one example per emotional (non-neutral) turn with cause spans that
the other party answers in the next turn. The post is the target speaker's own turns up to the target; the
reply is that next turn. A post sentence is a cause when it overlaps a RECCON cause span; spans in the other
party's turns are not in the post (counted as a problem: "cause outside the post"). Examples whose post has
no cause sentence are skipped and counted.

Sentences: split after ".", "!" or "?" followed by white space (RECCON's text has spaces around
punctuation, which the same rule handles).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from emocause.data import ecc, reccon
from emocause.data.acnempathize import post_reply_dialogue
from emocause.data.registry import DatasetSpec, LoadResult, get_spec, register
from emocause.data.schema import CauseSpan, Turn

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character ranges of the sentences of `text` (without surrounding white space)."""
    ranges = []
    start = 0
    for match in [*_SENTENCE_END.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        if piece.strip():
            left = start + len(piece) - len(piece.lstrip())
            ranges.append((left, left + len(piece.strip())))
        if match:
            start = match.end()
    return ranges


def _post(
    turns: Sequence[Turn], indices: Sequence[int], spans: Sequence[CauseSpan]
) -> tuple[list[str], list[int]]:
    sentences: list[str] = []
    labels: list[int] = []
    for index in indices:
        text = turns[index].text
        for start, end in split_sentences(text):
            sentences.append(text[start:end])
            labels.append(int(any(s.turn == index and s.start < end and s.end > start for s in spans)))
    return sentences, labels


def load_ecc_empathy_cause(root: Path, split: str) -> LoadResult:
    source = ecc.load_ecc_examples(root, split)
    result = LoadResult(skipped=source.skipped.copy(), problems=source.problems.copy())
    for d in source.dialogues:
        if not d.cause_spans:
            result.skip("no located cause span")
            continue
        last = max(s.turn for s in d.cause_spans)
        replies = [j for j in range(last + 1, len(d.turns)) if d.turns[j].role == "listener"]
        if d.turns[last].role != "speaker" or not replies:
            result.skip("cause not in a speaker turn followed by a listener turn")
            continue
        post_turns = [j for j in range(last + 1) if d.turns[j].role == "speaker"]
        sentences, labels = _post(d.turns, post_turns, d.cause_spans)
        meta = {"emotion": d.emotion, "from": d.id}
        result.dialogues.append(
            post_reply_dialogue(
                d.id, "ecc_empathy_cause", split, sentences, labels, d.turns[replies[0]].text, meta, result
            )
        )
    return result


def load_reccon_empathy_cause(root: Path, split: str) -> LoadResult:
    source = reccon.load_reccon(root, split)
    result = LoadResult(skipped=source.skipped.copy(), problems=source.problems.copy())
    for d in source.dialogues:
        for i, target in enumerate(d.turns):
            if target.emotion in (None, "neutral") or not target.cause_spans:
                continue
            if i + 1 >= len(d.turns) or d.turns[i + 1].role == target.role:
                result.skip("no answer from the other party")
                continue
            post_turns = [j for j in range(i + 1) if d.turns[j].role == target.role]
            if any(s.turn not in post_turns for s in target.cause_spans):
                result.problem("cause outside the post")
            sentences, labels = _post(d.turns, post_turns, target.cause_spans)
            if not any(labels):
                result.skip("no cause sentence in the post")
                continue
            meta = {"emotion": target.emotion, "from": d.id, "turn": i}
            result.dialogues.append(
                post_reply_dialogue(
                    f"{d.id}|{i}",
                    "reccon_empathy_cause",
                    split,
                    sentences,
                    labels,
                    d.turns[i + 1].text,
                    meta,
                    result,
                )
            )
    return result


register(
    DatasetSpec(
        name="ecc_empathy_cause",
        description="derived: empathy-cause sentences of ECC speaker posts (see emocause.data.derived)",
        splits=get_spec("ecc_examples").splits,
        files=get_spec("ecc_examples").files,
        loader=load_ecc_empathy_cause,
        expected={"train": 4710, "valid": 529, "test": 558},
    )
)
register(
    DatasetSpec(
        name="reccon_empathy_cause",
        description="derived: empathy-cause sentences of RECCON-DD speaker turns (see emocause.data.derived)",
        splits=get_spec("reccon").splits,
        files=get_spec("reccon").files,
        loader=load_reccon_empathy_cause,
        expected={"train": 2867, "valid": 129, "test": 702},
    )
)
