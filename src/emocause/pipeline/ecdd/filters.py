"""EC-DD filters: does a dialogue carry its seed (semantic check), and is it safe (toxicity screen)?

Semantic check, two tests, both calibrated on the real ECC dev and test dialogues against the same dialogues
paired with another dialogue's seed (`emocause bench ecdd-filters`, numbers in docs/ecdd.md):
- cause: cosine similarity of MiniLM embeddings between the whole dialogue (the people's names removed) and
  the cause seed (ATOMIC head, PersonX/PersonY read as "someone") of at least `cause_threshold`;
- emotion: the seed's ECC category is among the `emotion_top_k` most probable of our ECC emotion classifier
  on the dialogue's first four turns.

Toxicity: the paper discards dialogues scored above 0.6 by the Rewire API, which is not reachable here. Any
`ToxicityScorer` plugs in; `PatternToxicity` (the default) scores an utterance 1 when it matches the toxic
word patterns of the service's output screen and 0 otherwise, so it catches slurs, insults and threats it
lists and nothing subtler; `ClassifierToxicity` runs any transformers toxicity classifier by hub id or folder
(for example unitary/toxic-bert where a network or a local copy exists).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from emocause.data.schema import Turn
from emocause.resources.safety_patterns import PatternScreen

EMOTION_CONTEXT_TURNS = 4


class ToxicityScorer(Protocol):
    name: str

    def scores(self, texts: Sequence[str]) -> list[float]:
        """A toxicity probability in [0, 1] per text."""
        ...


@dataclass
class PatternToxicity:
    name: str = "patterns:resources/safety.yaml#output (insult, harm_encouragement, dismissive_cruel)"

    def scores(self, texts: Sequence[str]) -> list[float]:
        screen = PatternScreen("output")
        toxic = {"insult", "harm_encouragement", "dismissive_cruel"}
        return [1.0 if toxic & set(screen.flags(text)) else 0.0 for text in texts]


class ClassifierToxicity:
    """A transformers text classifier; the score is the largest probability among its toxic labels
    (labels naming "toxic", "hate", "insult", "threat" or "obscene", not "non-toxic")."""

    _TOXIC = re.compile(r"toxic|hate|insult|threat|obscene|offensive")

    def __init__(self, model: str):
        from transformers import pipeline

        from emocause.models.resolver import resolve_encoder_path

        self.name = model
        self._classify = pipeline("text-classification", model=resolve_encoder_path(model), top_k=None)

    def scores(self, texts: Sequence[str]) -> list[float]:
        outputs: Any = self._classify(list(texts), truncation=True)
        return [
            max(
                (
                    o["score"]
                    for o in labels
                    if self._TOXIC.search(o["label"].lower()) and "non" not in o["label"].lower()
                ),
                default=0.0,
            )
            for labels in outputs
        ]


@dataclass(frozen=True)
class SemanticResult:
    cause_similarity: float
    emotion_rank: int
    """1-based rank of the seed's category among the classifier's ECC emotions."""


def _without_persons(text: str, names: Sequence[str]) -> str:
    for name in names:
        text = re.sub(rf"\b{re.escape(name)}\b", "someone", text)
    return text


def seed_cause_text(head: str) -> str:
    return re.sub(r"\bPerson[XYZ]\b", "someone", re.sub(r"\bPerson[XYZ]'s\b", "their", head)).replace(
        "___", "something"
    )


class SemanticCheck:
    """The two tests of the module docstring; models load on first use and are used by one thread at a time."""

    def __init__(
        self,
        cause_threshold: float,
        emotion_top_k: int,
        encoder: str | None = None,
        emotion_model: str = "emotion-ecc",
    ):
        self.cause_threshold = cause_threshold
        self.emotion_top_k = emotion_top_k
        self.encoder_name = encoder
        self.emotion_model_name = emotion_model
        self._encoder: Any = None
        self._emotion: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        if self._encoder is None:
            from emocause.models.registry import load_model
            from emocause.models.resolver import DEFAULT_ENCODER, load_sentence_encoder

            self._encoder = load_sentence_encoder(self.encoder_name or DEFAULT_ENCODER, device="cpu")
            self._emotion = load_model(self.emotion_model_name)

    def measure(
        self, pairs: Sequence[tuple[Sequence[Turn], str, Sequence[str]]], categories: Sequence[str]
    ) -> list[SemanticResult]:
        """For each (turns, cause seed, names) and seed category: the similarity and the category's rank."""
        with self._lock:
            self._load()
            dialogues = [
                _without_persons(" ".join(t.text for t in turns), names) for turns, _, names in pairs
            ]
            causes = [seed_cause_text(cause) for _, cause, _ in pairs]
            embeddings = self._encoder.encode(
                dialogues + causes, normalize_embeddings=True, convert_to_tensor=True
            )
            n = len(pairs)
            similarity = (embeddings[:n] * embeddings[n:]).sum(-1).tolist()
            probabilities = self._emotion.probabilities(
                [list(turns)[:EMOTION_CONTEXT_TURNS] for turns, _, _ in pairs]
            )
            labels = self._emotion.labels
            ranks = []
            for row, category in zip(probabilities.tolist(), categories, strict=True):
                order = sorted(range(len(labels)), key=lambda j: -row[j])
                ranks.append(1 + [labels[j] for j in order].index(category))
        return [SemanticResult(s, r) for s, r in zip(similarity, ranks, strict=True)]

    def closest(self, queries: Sequence[str], candidates: Sequence[str]) -> list[int]:
        """For each query, the index of the most similar candidate (MiniLM cosine)."""
        with self._lock:
            self._load()
            embeddings = self._encoder.encode(
                [*queries, *candidates], normalize_embeddings=True, convert_to_tensor=True
            )
        scores = embeddings[: len(queries)] @ embeddings[len(queries) :].T
        return [int(i) for i in scores.argmax(-1).tolist()]

    def passes(self, result: SemanticResult) -> str | None:
        """None if the dialogue carries its seed, else why not."""
        if result.cause_similarity < self.cause_threshold:
            return "off-seed cause"
        if result.emotion_rank > self.emotion_top_k:
            return "off-seed emotion"
        return None
