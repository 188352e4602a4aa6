"""Safety screens around generation.

Before: the risk screen reads the speaker's side of the dialogue, the last `window` speaker turns each alone and
together (a risk said two turns ago still counts after "anyway, what should I cook?"), and gives a level:
- `crisis` (suicide, self-harm, eating disorder, abuse or violence against the speaker, child safety): a fixed
  supportive reply with crisis lines, never model output;
- `concern`: a gentle check-in that asks how the person is and offers help, never model output;
- `none`: the model answers.
Two layers decide: rules (`resources/safety.yaml`, high precision, direct statements) and a learned classifier
(`models/screen.py`, the shipped `risk-screen`, for indirect wording); the more severe level wins. Every text is
read in its screening form, so spelling tricks (leetspeak, look-alike letters, zero-width characters, spread
letters, "kms") do not hide a message.

After: the reply screen reads each generated reply: degenerate output (no words, one word or phrase repeated,
letters without vowels), rules and the shipped `reply-screen` classifier (insults, encouragement of harm,
claims to be human or a licensed professional, cruelty). A reply that fails is replaced by a safe reply.

Measured limits are in docs/service.md and `emocause bench safety`; the screens are a safeguard, not a clinical
assessment.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.models.registry import load_model
from emocause.models.screen import ScreenClassifier
from emocause.resources.normalise import screening_form
from emocause.resources.safety_patterns import PatternScreen

CRISIS_REPLY = (
    "I'm really sorry you're going through this, and I'm glad you told me. What you're describing sounds "
    "serious, and you deserve support from a person who can help right now. If you are in danger or might act "
    "on these thoughts, please call your local emergency number. You can also reach a crisis line: in the US "
    "call or text 988, in the UK and Ireland call Samaritans on 116 123, or find a line in your country at "
    "findahelpline.com. I'm an automated listener, not a counsellor, but I'm here if you want to keep talking."
)
CONCERN_REPLY = (
    "Thank you for telling me this. It sounds like things have been really heavy for you lately, and I want to "
    "check in: how are you doing right now, and are you safe? If it ever feels like too much, talking to someone "
    "you trust or a support line can help: in the US you can call or text 988, in the UK and Ireland Samaritans "
    "are on 116 123, and findahelpline.com lists lines in other countries. I'm an automated listener, not a "
    "counsellor, but I'm here to listen if you'd like to tell me more."
)
SAFE_REPLY = (
    "That sounds like a lot to carry. I'm here to listen. Would you like to tell me more about what happened?"
)
RISK_LEVELS = ("none", "concern", "crisis")
DEFAULT_RISK_SCREEN = "risk-screen"
DEFAULT_REPLY_SCREEN = "reply-screen"


@dataclass
class RiskAssessment:
    level: str = "none"
    categories: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    """Which layers found it: "rules", "classifier"."""
    probability: float = 0.0
    """The classifier's highest probability of any risk over the texts read (0 without a classifier)."""

    def add(self, level: str, categories: Sequence[str], source: str) -> None:
        """A finding of one layer: the more severe level wins; categories and layers are kept once each."""
        self.level = max(self.level, level, key=RISK_LEVELS.index)
        self.categories += [c for c in categories if c not in self.categories]
        if source not in self.sources:
            self.sources.append(source)


def _load_screen(name: str | Path | None) -> ScreenClassifier | None:
    if name is None:
        return None
    model = load_model(name)
    if not isinstance(model, ScreenClassifier):
        raise ModelError(f"{name} is not a screen model")
    return model.merge_for_inference()


class RiskScreen:
    def __init__(self, classifier: ScreenClassifier | None = None, window: int = 5):
        self.rules = PatternScreen("crisis")
        self.classifier = classifier
        self.window = window

    def texts_read(self, turns: Sequence[Turn]) -> list[str]:
        """The last `window` speaker turns, each alone, and together when there are several."""
        speaker = [t.text for t in turns if t.role == "speaker"][-self.window :]
        return speaker + ([" ".join(speaker)] if len(speaker) > 1 else [])

    def assess(self, dialogues: Sequence[Sequence[Turn]]) -> list[RiskAssessment]:
        """One assessment per dialogue; the classifier reads every dialogue's texts in one batch."""
        texts = [self.texts_read(turns) for turns in dialogues]
        flat = [t for group in texts for t in group]
        scores = iter(self.classifier.score(flat) if self.classifier is not None and flat else [])
        assessments = []
        for group in texts:
            found = RiskAssessment()
            for text in group:
                rule_categories = self.rules.flags(text)
                if rule_categories:
                    found.add("crisis", rule_categories, "rules")
                if self.classifier is None:
                    continue
                score = next(scores)
                found.probability = max(found.probability, score.flag_probability)
                if score.level != "none":
                    found.add(score.level, [score.category], "classifier")
            assessments.append(found)
        return assessments


_WORD = re.compile(r"[^\W\d_]+")
_VOWELS = set("aeiouy")


def degenerate(reply: str) -> bool:
    """No words; one word or phrase making up most of a long reply; or mostly letter strings without vowels."""
    words = _WORD.findall(screening_form(reply))
    if not words:
        return True
    if len(words) >= 6 and Counter(words).most_common(1)[0][1] / len(words) > 0.4:
        return True
    trigrams = Counter(zip(words, words[1:], words[2:], strict=False))
    if trigrams and trigrams.most_common(1)[0][1] >= 3:
        return True
    long_words = [w for w in words if len(w) >= 3]
    return len(long_words) >= 3 and sum(not (_VOWELS & set(w)) for w in long_words) / len(long_words) > 0.5


class ReplyScreen:
    def __init__(self, classifier: ScreenClassifier | None = None):
        self.rules = PatternScreen("output")
        self.classifier = classifier

    def flags(self, replies: Sequence[str]) -> list[list[str]]:
        """Per reply, the categories it falls into; empty when it may be sent."""
        scores = iter(self.classifier.score(replies) if self.classifier is not None and replies else [])
        flagged = []
        for reply in replies:
            found = ["degenerate"] if degenerate(reply) else []
            found += [c for c in self.rules.flags(reply) if c not in found]
            if self.classifier is not None:
                score = next(scores)
                if score.level != "safe" and score.category not in found:
                    found.append(score.category)
            flagged.append(found)
        return flagged


@dataclass
class SafetyPolicy:
    risk: RiskScreen = field(default_factory=RiskScreen)
    output: ReplyScreen = field(default_factory=ReplyScreen)
    crisis_reply: str = CRISIS_REPLY
    concern_reply: str = CONCERN_REPLY
    safe_reply: str = SAFE_REPLY

    @classmethod
    def from_pretrained(
        cls, risk: str | Path | None = DEFAULT_RISK_SCREEN, reply: str | Path | None = DEFAULT_REPLY_SCREEN
    ) -> SafetyPolicy:
        """Rules plus the learned screens, each by shipped name or run folder (None: that screen's rules only)."""
        return cls(RiskScreen(_load_screen(risk)), ReplyScreen(_load_screen(reply)))
