"""Safety screens around generation.

Before: a crisis screen on the user's message (suicide, self-harm, abuse). A crisis message is never
answered by the model: it gets a careful supportive reply with a pointer to professional help.
After: an output screen on the generated reply (toxic wording; the model claiming to be a human or a
licensed professional). A reply that fails is replaced by a safe reply.

Both screens are pattern lists (`resources/safety.yaml`): transparent, fast, and measurable on the lists in
tests/test_safety.py, but blind to paraphrases they do not list. A learned classifier plugs in through the
`TextScreen` protocol (any object with `flags(text) -> list[str]`), for example one behind an API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Protocol

import yaml

CRISIS_REPLY = (
    "I'm really sorry you're going through this, and I'm glad you told me. What you're describing sounds "
    "serious, and you deserve support from a person who can help right now. If you are in danger or might act "
    "on these thoughts, please call your local emergency number. You can also reach a crisis line: in the US "
    "call or text 988, in the UK and Ireland call Samaritans on 116 123, or find a line in your country at "
    "findahelpline.com. I'm an automated listener, not a counsellor, but I'm here if you want to keep talking."
)
SAFE_REPLY = (
    "That sounds like a lot to carry. I'm here to listen. Would you like to tell me more about what happened?"
)


class TextScreen(Protocol):
    def flags(self, text: str) -> list[str]:
        """Names of the categories the text falls into; empty when it passes."""
        ...


@cache
def _patterns(section: str) -> dict[str, re.Pattern[str]]:
    table = yaml.safe_load((files("emocause") / "resources" / "safety.yaml").read_text(encoding="utf-8"))
    return {
        category: re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b", re.IGNORECASE)
        for category, patterns in table[section].items()
    }


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'"))


@dataclass
class PatternScreen:
    """Flags every category of `resources/safety.yaml` section `section` whose pattern occurs in the text."""

    section: str

    def flags(self, text: str) -> list[str]:
        normalised = _normalise(text)
        return [name for name, pattern in _patterns(self.section).items() if pattern.search(normalised)]


@dataclass
class SafetyPolicy:
    crisis: TextScreen = field(default_factory=lambda: PatternScreen("crisis"))
    output: TextScreen = field(default_factory=lambda: PatternScreen("output"))
    crisis_reply: str = CRISIS_REPLY
    safe_reply: str = SAFE_REPLY
