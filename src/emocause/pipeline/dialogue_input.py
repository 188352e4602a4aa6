"""Dialogues as callers give them: a string, a list of strings (speaker first, alternating), a list of
{"role", "text"} objects, or {"turns": [...]}; anything else is a clear error naming what was expected.

Texts lose invisible characters (`resources.normalise.clean_text`): a turn of zero-width spaces or NULs is no
text. Text that is not valid Unicode (a lone surrogate from a JSON escape) is refused, as is a dialogue with no
speaker turn to answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from emocause.data.schema import Turn
from emocause.errors import DataError
from emocause.resources.normalise import clean_text

MAX_TURNS = 64
MAX_CHARACTERS = 20_000
EXPECTED = 'a list of strings, a list of {"role": "speaker"|"listener", "text": ...}, or {"turns": [...]}'


def parse_dialogue(value: Any, source: str = "dialogue") -> list[Turn]:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, dict):
        if "turns" not in value:
            raise DataError(source, "an object without 'turns'", expected=EXPECTED)
        value = value["turns"]
    if not isinstance(value, list) or not value:
        raise DataError(source, "no turns", expected=EXPECTED)
    if len(value) > MAX_TURNS:
        raise DataError(source, f"{len(value)} turns", expected=f"at most {MAX_TURNS}")
    turns = []
    for i, item in enumerate(value):
        where = f"turn {i + 1}"
        role: Any
        text: Any
        if isinstance(item, str):
            role, text = ("speaker", "listener")[i % 2], item
        elif isinstance(item, dict):
            role, text = item.get("role", ("speaker", "listener")[i % 2]), item.get("text")
            if role not in ("speaker", "listener"):
                raise DataError(source, f"role {role!r}", where=where, expected='"speaker" or "listener"')
        else:
            raise DataError(
                source, f"a {type(item).__name__} where a turn should be", where=where, expected=EXPECTED
            )
        if not isinstance(text, str):
            raise DataError(source, "a turn without text", where=where, expected="non-empty text")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(source, "text that is not valid Unicode (a lone surrogate)", where=where) from None
        text = clean_text(text).strip()
        if not text:
            raise DataError(source, "a turn without visible text", where=where, expected="non-empty text")
        turns.append(Turn(role="speaker" if role == "speaker" else "listener", text=text))
    if sum(len(t.text) for t in turns) > MAX_CHARACTERS:
        raise DataError(source, "dialogue too long", expected=f"at most {MAX_CHARACTERS:,} characters in all")
    if all(t.role != "speaker" for t in turns):
        raise DataError(source, "no speaker turn to answer", expected="at least one speaker (user) turn")
    return turns


def read_dialogue_file(path: Path) -> list[Turn]:
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(path, f"not valid JSON ({error})", expected=EXPECTED) from None
    return parse_dialogue(value, str(path))
