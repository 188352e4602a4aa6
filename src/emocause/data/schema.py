"""One schema for every dialogue corpus.

Loaders turn each file format into these dataclasses and nothing else; conversions to model inputs
live beside the models. Indices are 0-based everywhere (source formats that count from 1 are
converted on load), and character offsets index `Turn.text`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["speaker", "listener"]
"""`speaker` is the person sharing an experience (ED speaker, ESConv seeker, ECC Person 1,
EPITOME poster, DailyDialog's first speaker); `listener` is the one answering."""

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class CauseSpan:
    """A stretch of text, inside turn `turn`, that caused an emotion: `text == turns[turn].text[start:end]`."""

    turn: int
    start: int
    end: int
    text: str


@dataclass
class Turn:
    role: Role
    text: str
    emotion: str | None = None
    cause_turns: list[int] = field(default_factory=list)
    """Turns (0-based) holding the cause of this turn's emotion (RECCON evidence, ECC pairs)."""
    cause_outside: bool = False
    """RECCON's "b" marker: (part of) the cause lies outside the dialogue."""
    cause_spans: list[CauseSpan] = field(default_factory=list)
    speaker_name: str | None = None
    """The name the source gives the speaker ("A", "Megan", "usr"), kept for display."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Per-turn extras a source provides: intent, dialogue act, support strategy, COMET inferences."""


@dataclass
class Dialogue:
    id: str
    source: str
    split: str
    turns: list[Turn]
    emotion: str | None = None
    """Dialogue-level emotion (ED's context label, ECC's seed category, ESConv's emotion type)."""
    situation: str | None = None
    cause_turns: list[int] = field(default_factory=list)
    """Dialogue-level cause turns (0-based), where a source labels causes of `emotion` as a whole."""
    cause_spans: list[CauseSpan] = field(default_factory=list)
    """Dialogue-level cause spans, where a source gives the cause text of `emotion` (ECC's cause sentence)."""
    cause_labels: Literal["gold", "silver"] | None = None
    """Whether the causes are human annotations (or the generating LLM's own) or a model's predictions."""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_cause_labels(self) -> int:
        """Labelled causes: dialogue-level causes plus every turn's evidence (a "b" marker counts as one)."""
        per_turn = sum(len(t.cause_turns) + int(t.cause_outside) for t in self.turns)
        return max(len(self.cause_turns), len(self.cause_spans)) + per_turn

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class KnowledgeRecord:
    """One commonsense query and its inferences: ATOMIC-2020 `head @@ relation -> tails` with COMET output."""

    head: str
    relation: str
    tails: list[str]
    generations: list[str] = field(default_factory=list)
    greedy: str | None = None
    split: str = "test"
