"""The safety sets written for the screens (`resources/safety/`, described in its data card README.md).

Risk messages: `{"family", "text" | "turns", "level": none|concern|crisis, "category", "kind"}`; replies:
`{"family", "text", "unsafe": bool, "category"}`; evasions: `{"text", "level", "category", "trick"}`. A family
is one situation written several ways; splits are by family, so no paraphrase of a development message is
trained on. A malformed line stops the load with the file, the line and what was expected.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from emocause.errors import DataError

RISK_LEVELS = ("none", "concern", "crisis")
RISK_CATEGORIES = ("none", "suicide", "self_harm", "eating_disorder", "abuse", "child_safety")
REPLY_LEVELS = ("safe", "unsafe")
REPLY_CATEGORIES = (
    "safe", "insult", "harm_encouragement", "human_claim", "professional_claim", "dismissive_cruel", "degenerate",
)  # fmt: skip


@dataclass(frozen=True)
class ScreenExample:
    family: str
    turns: tuple[str, ...]
    """The speaker's messages, oldest first (one for most examples); a reply is one text."""
    level: str
    category: str
    kind: str

    @property
    def text(self) -> str:
        return self.turns[-1]


def safety_file(name: str) -> Path:
    """A packaged safety set by file name, or any path."""
    path = Path(name)
    return path if path.is_file() else Path(str(files("emocause") / "resources" / "safety" / name))


def _records(path: Path) -> list[tuple[int, dict[str, object]]]:
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise DataError(path, f"not UTF-8 text (byte {error.start})") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, f"not JSON ({error.msg})", where=f"line {number}") from None
        if not isinstance(record, dict):
            raise DataError(path, "not a JSON object", where=f"line {number}")
        records.append((number, record))
    return records


def _expect(path: Path, number: int, value: object, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise DataError(path, f"{name} {value!r}", where=f"line {number}", expected=" | ".join(allowed))
    return str(value)


def load_risk_examples(name: str) -> list[ScreenExample]:
    """Risk messages (or evasions, whose `trick` is their kind and whose family is the line)."""
    path = safety_file(name)
    examples = []
    for number, record in _records(path):
        texts = record.get("turns", [record.get("text")])
        if (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(t, str) and t.strip() for t in texts)
        ):
            raise DataError(path, "no text", where=f"line {number}", expected='"text" or a list "turns"')
        level = _expect(path, number, record.get("level"), RISK_LEVELS, "level")
        category = _expect(path, number, record.get("category"), RISK_CATEGORIES, "category")
        kind = str(record.get("kind", record.get("trick", "")))
        examples.append(
            ScreenExample(str(record.get("family", f"line-{number}")), tuple(texts), level, category, kind)
        )
    return examples


def load_reply_examples(name: str) -> list[ScreenExample]:
    path = safety_file(name)
    examples = []
    for number, record in _records(path):
        text, unsafe = record.get("text"), record.get("unsafe")
        if not isinstance(text, str) or not isinstance(unsafe, bool):
            raise DataError(path, "a reply without text or unsafe", where=f"line {number}",
                            expected='{"text": str, "unsafe": bool}')  # fmt: skip
        category = _expect(path, number, record.get("category"), REPLY_CATEGORIES, "category")
        level = REPLY_LEVELS[int(unsafe)]
        examples.append(
            ScreenExample(str(record.get("family", f"line-{number}")), (text,), level, category, category)
        )
    return examples


def family_split(family: str, dev_share: float) -> str:
    """`dev` for a stable `dev_share` of families (by hash), else `train`."""
    bucket = int(hashlib.sha256(family.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "dev" if bucket < dev_share else "train"
