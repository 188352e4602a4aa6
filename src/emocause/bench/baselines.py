"""Reference baselines scored through the same evaluation code as any model: the floor to beat.

- majority: the most frequent training emotion for every example;
- random emotion: a label drawn uniformly (seed 0);
- self cause: each emotional turn's cause is the turn itself (RECCON's commonest case);
- all causes: every candidate turn is a cause;
- random cause words: the words of the turns up to the target in a random order (seed 0);
- random / majority sentences: uniform scores, or no sentence a cause (empathy causes);
- echo: the response repeats the previous turn.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emocause.bench.results import ResultRow
from emocause.data import load
from emocause.data.schema import Dialogue
from emocause.evaluation import TAXONOMY_OF, Predictions, evaluate_predictions

Builder = Callable[[list[Dialogue], list[Dialogue]], list[dict[str, Any]]]


def _majority(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    label = Counter(d.emotion for d in train).most_common(1)[0][0]
    return [{"id": d.id, "emotion": label} for d in test]


def _random_emotion(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    rng = random.Random(0)
    labels = sorted({d.emotion for d in train if d.emotion})
    return [{"id": d.id, "emotion": rng.choice(labels)} for d in test]


def _emotional_turns(test: list[Dialogue]) -> list[tuple[Dialogue, int]]:
    return [
        (d, i)
        for d in test
        for i, t in enumerate(d.turns)
        if t.emotion not in (None, "neutral") and t.cause_turns
    ]


def _self_cause(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    return [{"id": d.id, "turn": i, "causes": [i]} for d, i in _emotional_turns(test)]


def _all_causes(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    return [{"id": d.id, "turn": i, "causes": list(range(i + 1))} for d, i in _emotional_turns(test)]


def _random_cause_words(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    # The same candidates as the ECE model sees: every word of the turns up to the target.
    rng = random.Random(0)
    predictions = []
    for d in test:
        for i, turn in enumerate(d.turns):
            if turn.cause_spans:
                words = " ".join(t.text for t in d.turns[: i + 1]).split()
                rng.shuffle(words)
                predictions.append({"id": d.id, "turn": i, "ranked_words": words})
    return predictions


def _random_sentences(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    rng = random.Random(0)
    return [{"id": d.id, "scores": [rng.random() for _ in d.turns[0].meta["sentence_labels"]]} for d in test]


def _majority_sentences(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    return [{"id": d.id, "scores": [0.0 for _ in d.turns[0].meta["sentence_labels"]]} for d in test]


def _echo(train: list[Dialogue], test: list[Dialogue]) -> list[dict[str, Any]]:
    return [
        {"id": d.id, "turn": i, "response": d.turns[i - 1].text}
        for d in test
        for i, t in enumerate(d.turns)
        if i > 0 and t.role == "listener"
    ]


# (task in the report, evaluation task, dataset, train split, test split, baseline name, builder)
BASELINES: list[tuple[str, str, str, str, str, str, Builder]] = [
    ("emotion_recognition", "emotion", "empathetic_dialogues", "train", "test", "majority class", _majority),
    (
        "emotion_recognition",
        "emotion",
        "empathetic_dialogues",
        "train",
        "test",
        "random label",
        _random_emotion,
    ),
    ("emotion_recognition", "emotion", "ecc_examples", "train", "test", "majority class", _majority),
    ("cause_utterances", "cause_utterances", "reccon", "train", "test", "self cause", _self_cause),
    ("cause_utterances", "cause_utterances", "reccon", "train", "test", "all candidates", _all_causes),
    ("cause_words", "cause_words", "reccon", "train", "test", "random order", _random_cause_words),
    (
        "empathy_causes",
        "empathy_causes",
        "ecc_empathy_cause",
        "train",
        "test",
        "random scores",
        _random_sentences,
    ),
    (
        "empathy_causes",
        "empathy_causes",
        "ecc_empathy_cause",
        "train",
        "test",
        "majority (no cause)",
        _majority_sentences,
    ),
    (
        "empathy_causes",
        "empathy_causes",
        "reccon_empathy_cause",
        "train",
        "test",
        "random scores",
        _random_sentences,
    ),
    ("response_generation", "response", "empathetic_dialogues", "train", "test", "echo previous turn", _echo),
]


def run_baselines(data_root: str | Path | None = None) -> list[ResultRow]:
    rows: list[ResultRow] = []
    for report_task, task, dataset, train_split, test_split, name, build in BASELINES:
        train = load(dataset, train_split, data_root).dialogues if task == "emotion" else []
        test = load(dataset, test_split, data_root).dialogues
        predictions: Predictions = list(enumerate(build(train, test), start=1))
        evaluation = evaluate_predictions(
            task, predictions, dataset, test_split, source=f"baseline {name}", data_root=data_root
        )
        evaluation.task = report_task
        rows += evaluation.rows(
            f"baseline: {name}", notes="reference floor" if dataset in TAXONOMY_OF else ""
        )
    return rows
