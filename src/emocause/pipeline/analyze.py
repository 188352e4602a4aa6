"""Analysis of a dialogue's last speaker turn: what the person feels (top-k emotions), which words of the
conversation caused it (ECE), and which turns (utterance-level causes). Each part comes from its own trained
model, loaded by name (a shipped default) or path; a part whose model is not given is left out."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emocause.data.schema import Turn
from emocause.errors import EmocauseError, ModelError
from emocause.models.cee import CauseUtteranceModel
from emocause.models.ece import ECEModel, is_content_word
from emocause.models.emotion import EmotionClassifier
from emocause.models.registry import load_model, shipped_models
from emocause.models.responder import cause_sentence, word_causes
from emocause.models.words import WordInput

DEFAULT_MODELS = {"emotion": "emotion-ed", "cause_words": "ece", "cause_turns": "cee"}


@dataclass
class CauseWord:
    turn: int
    word: int
    text: str
    score: float


@dataclass
class Analysis:
    target_turn: int
    emotions: list[tuple[str, float]]
    """Emotion labels with probabilities, most probable first."""
    cause_words: list[CauseWord] = field(default_factory=list)
    """The top cause words (content words only), best first, each with its turn and its word index in that turn."""
    cause_turns: list[tuple[int, float]] = field(default_factory=list)
    """Turns up to the target with the probability that they caused its emotion."""
    cause_turn_threshold: float = 0.5
    cause_sentence: str | None = None
    """The sharer's sentence holding the best cause word: what a response should address."""
    word_causes: list[list[float]] = field(default_factory=list)
    """Per turn up to the target, per whitespace word: ECE's cause probability (what ECG attends with)."""
    seconds: dict[str, float] = field(default_factory=dict)


def _target(turns: Sequence[Turn]) -> int:
    speaker = [i for i, t in enumerate(turns) if t.role == "speaker"]
    if not speaker:
        raise EmocauseError("the dialogue has no speaker turn to analyse")
    return speaker[-1]


def _load(name: str | Path | None, kind: type, what: str) -> object | None:
    if name is None:
        return None
    model = load_model(name)
    if not isinstance(model, kind):
        raise ModelError(f"{name} is not a {what} model")
    return model


class Analyzer:
    def __init__(
        self,
        emotion: str | Path | None = DEFAULT_MODELS["emotion"],
        cause_words: str | Path | None = DEFAULT_MODELS["cause_words"],
        cause_turns: str | Path | None = DEFAULT_MODELS["cause_turns"],
        top_emotions: int = 3,
        top_words: int = 5,
    ):
        self.emotion = _load(emotion, EmotionClassifier, "emotion")
        self.ece = _load(cause_words, ECEModel, "cause-word (ECE)")
        self.cee = _load(cause_turns, CauseUtteranceModel, "utterance-cause")
        if self.emotion is None and self.ece is None:
            raise ModelError(f"an analyzer needs an emotion or an ECE model; shipped: {shipped_models()}")
        self.top_emotions = top_emotions
        self.top_words = top_words

    def analyze(self, turns: Sequence[Turn]) -> Analysis:
        target = _target(turns)
        history = list(turns[: target + 1])
        seconds: dict[str, float] = {}
        words = WordInput.from_turns(history)
        start = time.perf_counter()
        ece_emotions: list[tuple[str, float]] = []
        cause_words: list[CauseWord] = []
        sentence, per_word = None, []
        if isinstance(self.ece, ECEModel):
            ((ece_emotions, scores),) = self.ece.analyze([words])
            starts = {
                t: words.turn_of.index(t) for t in set(words.turn_of) if t >= 0
            }  # first word of each turn
            # Shown to people: content words only ("My", "I" or "." explain nothing), as ECE's pseudo labels.
            ranked = [i for i in ECEModel.ranked_positions(words, scores) if is_content_word(words.words[i])]
            cause_words = [
                CauseWord(words.turn_of[i], i - starts[words.turn_of[i]], words.words[i], scores[i])
                for i in ranked[: self.top_words]
            ]
            sentence = cause_sentence(history, words, ranked)
            per_word = word_causes(words, scores, len(history))
            seconds["cause_words"] = time.perf_counter() - start
        if isinstance(self.emotion, EmotionClassifier):
            start = time.perf_counter()
            emotions = self.emotion.top_k([history], self.top_emotions)[0]  # history ends with the speaker
            seconds["emotion"] = time.perf_counter() - start
        else:
            emotions = ece_emotions[: self.top_emotions]
        analysis = Analysis(
            target, emotions, cause_words, cause_sentence=sentence, word_causes=per_word, seconds=seconds
        )
        if isinstance(self.cee, CauseUtteranceModel):
            start = time.perf_counter()
            (probabilities,) = self.cee.cause_probabilities([words])
            analysis.cause_turns = list(enumerate(probabilities))
            analysis.cause_turn_threshold = self.cee.config.threshold
            seconds["cause_turns"] = time.perf_counter() - start
        return analysis
