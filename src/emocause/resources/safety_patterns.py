"""The rule layer of the safety screens: regular expressions of `resources/safety.yaml`, matched on whole words of
the screening form of a text (`resources.normalise.screening_form`: lower case, evasions undone).

Rules are the high-precision layer: direct statements ("I want to kill myself") and unambiguous output
(insults, claims to be a therapist) are caught whatever a classifier says. Recall on indirect wording comes
from the learned screens (`models/screen.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

from emocause.resources.normalise import screening_form


@cache
def _patterns(section: str) -> dict[str, re.Pattern[str]]:
    table = yaml.safe_load((files("emocause") / "resources" / "safety.yaml").read_text(encoding="utf-8"))
    return {
        category: re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b")
        for category, patterns in table[section].items()
    }


@dataclass
class PatternScreen:
    """Flags every category of `resources/safety.yaml` section `section` whose pattern occurs in the text."""

    section: str

    def flags(self, text: str) -> list[str]:
        normalised = screening_form(text)
        return [name for name, pattern in _patterns(self.section).items() if pattern.search(normalised)]
