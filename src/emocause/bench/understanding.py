"""Benchmark a trained understanding model on a test split: its predictions go through `emocause.evaluation`
like any other prediction file, plus the model's speed on this machine (inputs per second at batch 1 and
batched, after one warm-up batch)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from emocause.bench.results import ResultRow, describe_device
from emocause.data import load
from emocause.errors import ModelError
from emocause.evaluation import Predictions, evaluate_predictions
from emocause.models.cee import CauseUtteranceModel
from emocause.models.ece import ECEModel
from emocause.models.emotion import EmotionClassifier, emotion_input
from emocause.models.empathy_cause import EmpathyCauseModel
from emocause.models.mechanisms import MECHANISMS, SHORT_NAMES, MechanismClassifier
from emocause.models.registry import load_model
from emocause.training.cee import cause_turn_examples
from emocause.training.ece import cause_word_examples
from emocause.training.empathy_cause import post_reply_examples
from emocause.training.mechanisms import mechanism_examples, score_mechanisms

SPEED_INPUTS = 64


def _speed(
    run: Callable[[Sequence[Any], int], Any],
    inputs: Sequence[Any],
    task: str,
    dataset: str,
    split: str,
    label: str,
) -> list[ResultRow]:
    rows = []
    sample = list(inputs[:SPEED_INPUTS])
    for batch_size in (1, 32):
        run(sample[:batch_size], batch_size)  # warm-up
        start = time.perf_counter()
        run(sample, batch_size)
        seconds = time.perf_counter() - start
        rows.append(ResultRow(task, dataset, split, len(sample), f"inputs_per_second_batch{batch_size}", len(sample) / seconds,
                              label, describe_device(), seconds, definition=f"model inputs processed per second at batch size {batch_size}, {torch.get_num_threads()} threads"))  # fmt: skip
    return rows


def bench_model(
    model_path: str | Path,
    dataset: str,
    split: str = "test",
    label: str | None = None,
    data_root: str | Path | None = None,
) -> list[ResultRow]:
    """Rows for one trained model: its task metrics on `dataset`/`split` and its speed."""
    model = load_model(model_path)
    label = label or str(model_path)
    dialogues = load(dataset, split, data_root).dialogues
    rows: list[ResultRow] = []
    started = time.perf_counter()

    def score(
        report_task: str,
        task: str,
        records: list[dict[str, Any]],
        allow_partial: bool = False,
        notes: str = "",
    ) -> None:
        predictions: Predictions = list(enumerate(records, start=1))
        evaluation = evaluate_predictions(
            task, predictions, dataset, split, source=label, data_root=data_root, allow_partial=allow_partial
        )
        evaluation.task = report_task
        evaluation.seconds = time.perf_counter() - started  # predicting and scoring, not only scoring
        rows.extend(evaluation.rows(label, notes))

    def speed(run: Callable[[Sequence[Any], int], Any], inputs: Sequence[Any], report_task: str) -> None:
        rows.extend(_speed(run, inputs, report_task, dataset, split, label))

    if isinstance(model, EmotionClassifier):
        reads = model.config.reads
        contexts = [emotion_input(d, reads) for d in dialogues if d.emotion]
        ids = [d.id for d in dialogues if d.emotion]
        top = model.top_k(contexts, k=5)
        read = "the turns before the last listener turn" if reads == "context" else "the situation sentence"
        score("emotion_recognition", "emotion", [{"id": i, "emotions": [e for e, _ in ranked]} for i, ranked in zip(ids, top, strict=True)],
              notes=f"one prediction per dialogue, from {read}")  # fmt: skip
        speed(lambda xs, b: model.probabilities(xs, b), contexts, "emotion_recognition")
    elif isinstance(model, ECEModel):
        examples = cause_word_examples(dialogues)
        analyses = model.analyze([x.words for x in examples])
        words = [{"id": x.dialogue_id, "turn": x.turn, "ranked_words": ECEModel.ranked_words(x.words, scores)}
                 for x, (_, scores) in zip(examples, analyses, strict=True)]  # fmt: skip
        score(
            "cause_words", "cause_words", words, notes="candidates: every word of the turns up to the target"
        )
        emotions = [
            {"id": x.dialogue_id, "turn": x.turn, "emotion": emotions[0][0]}
            for x, (emotions, _) in zip(examples, analyses, strict=True)
        ]
        score(
            "emotion_recognition",
            "emotion",
            emotions,
            allow_partial=True,
            notes="emotional turns with cause spans only (Ekman, no neutral)",
        )
        speed(lambda xs, b: model.analyze(xs, b), [x.words for x in examples], "cause_words")
    elif isinstance(model, CauseUtteranceModel):
        targets = cause_turn_examples(dialogues)
        causes = model.causes([x.words for x in targets])
        score("cause_utterances", "cause_utterances", [{"id": x.dialogue_id, "turn": x.turn, "causes": c} for x, c in zip(targets, causes, strict=True)],
              notes=f"threshold {model.config.threshold} chosen on valid")  # fmt: skip
        speed(lambda xs, b: model.cause_probabilities(xs, b), [x.words for x in targets], "cause_utterances")
    elif isinstance(model, EmpathyCauseModel):
        pairs = post_reply_examples(dialogues)
        probs = model.probabilities([x.post for x in pairs], [x.reply for x in pairs])
        score(
            "empathy_causes",
            "empathy_causes",
            [{"id": x.dialogue_id, "scores": p} for x, p in zip(pairs, probs, strict=True)],
        )

        def run(xs: Sequence[Any], batch_size: int) -> None:
            for start in range(0, len(xs), batch_size):
                chunk = xs[start : start + batch_size]
                model.probabilities([x.post for x in chunk], [x.reply for x in chunk])

        speed(run, pairs, "empathy_causes")
    return rows


def bench_mechanisms(
    model_path: str | Path, split: str = "test", label: str | None = None, data_root: str | Path | None = None
) -> list[ResultRow]:
    """The communication-mechanism classifier on EPITOME's held-out posts: accuracy and macro-F1 (no / yes) per
    mechanism, and its speed."""
    model = load_model(model_path)
    if not isinstance(model, MechanismClassifier):
        raise ModelError(f"{model_path} is not a communication-mechanism classifier")
    label = label or str(model_path)
    examples = mechanism_examples(load("epitome", "all", data_root).dialogues, split)
    started = time.perf_counter()
    scores = score_mechanisms(model, examples)
    seconds = time.perf_counter() - started
    device = describe_device()
    note = f"EPITOME pairs of the {split} posts (crc32(post id) % 10 split); weak/strong = yes"
    rows = []
    for name in MECHANISMS:
        short = SHORT_NAMES[name]
        rows += [
            ResultRow("communication_mechanisms", "epitome", split, scores.n_examples, f"{short}_accuracy",
                      scores.accuracy[name], label, device, seconds, notes=note,
                      definition=f"share of replies whose {name.replace('_', ' ')} yes/no is right"),
            ResultRow("communication_mechanisms", "epitome", split, scores.n_examples, f"{short}_macro_f1",
                      scores.macro_f1[name], label, device, seconds, notes=note,
                      definition="mean F1 of the classes no and yes"),
        ]  # fmt: skip
    pairs = [(x.post, x.reply) for x in examples]
    rows += _speed(
        lambda xs, b: model.probabilities(xs, b), pairs, "communication_mechanisms", "epitome", split, label
    )
    return rows
