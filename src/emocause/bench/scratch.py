"""Benchmark a from-scratch generator (Transformer, Multi-TRS, MoEL, E-CORE, IMAGINE) the way the papers report them.

- perplexity: word level, token-weighted, over every reference reply of the split (the model's own word
  vocabulary, <unk> counted like any word, the closing <eos> included), as in MoEL / CEM / E-CORE;
- emotion accuracy: over every (context, reply) example, against the dialogue's label;
- BLEU-1/2, ROUGE-1/L, Distinct-1/2 of greedy replies for a seeded sample, through `emocause.evaluation`,
  so `emocause evaluate` on the kept predictions file gives the same numbers;
- the emotion correlation figure: E-CORE's learned R beside the co-occurrence the data shows (Figure 4).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emocause.bench.results import ResultRow, describe_device
from emocause.data import load
from emocause.errors import ModelError
from emocause.evaluation import evaluate_predictions
from emocause.metrics import emotion_classification, perplexity
from emocause.models.ecore import ECORE
from emocause.models.imagine import Imagine
from emocause.models.registry import load_model
from emocause.models.scratch import ScratchGenerator, tokenize
from emocause.resources.taxonomies import ED, ED_EMOTION_WORDS
from emocause.training.imagine import attach_features
from emocause.training.scratch import score_examples, scratch_examples

TASK = "scratch_generation"
SEED = 2024


def load_generator(path: str | Path) -> ScratchGenerator:
    model = load_model(path)
    if not isinstance(model, ScratchGenerator):
        raise ModelError(
            f"{path} is not a from-scratch generator (transformer, multitrs, moel, ecore, imagine)"
        )
    return model


def bench_generator(
    path: str | Path,
    dataset: str,
    split: str = "test",
    *,
    replies: str = "every",
    label: str | None = None,
    n_generate: int = 1000,
    beam: int = 1,
    batch_size: int = 64,
    data_root: str | Path | None = None,
) -> tuple[list[ResultRow], list[dict[str, Any]]]:
    """Result rows, and the prediction lines of the generated sample (`emocause evaluate --task response`)."""
    model = load_generator(path).eval()
    label = label or str(path)
    examples = scratch_examples(dataset, split, replies, data_root)
    if isinstance(model, Imagine):
        attach_features(
            examples, model.config.features, dataset, split, mechanisms=False, data_root=data_root
        )
    started = time.perf_counter()
    scores = score_examples(model, examples, batch_size)
    scored_seconds = time.perf_counter() - started
    device = describe_device()
    rows = [
        ResultRow(TASK, dataset, split, len(examples), "perplexity_word",
                  perplexity(scores.nll, scores.tokens), label, device, scored_seconds,
                  notes=f"every reference reply, {scores.tokens} target words",
                  definition="exp(total NLL / target words), the model's word vocabulary, <unk> and <eos> counted")
    ]  # fmt: skip
    if model.PREDICTS_EMOTION:
        gold, predicted = [], []
        for x, (_, _, probs) in zip(examples, scores.per_example, strict=True):
            if probs is not None and x.emotion is not None:
                gold.append(model.labels[model.label_index(x.emotion)])
                predicted.append(model.labels[int(np.argmax(probs))])
        result = emotion_classification(gold, predicted, model.labels)
        rows += [
            ResultRow(TASK, dataset, split, result.n_examples, "emotion_accuracy", result.accuracy,
                      label, device, scored_seconds, notes="one prediction per (context, reply) example",
                      definition="share of examples whose top emotion equals the dialogue's label"),
            ResultRow(TASK, dataset, split, result.n_examples, "emotion_macro_f1", result.macro_f1,
                      label, device, scored_seconds,
                      definition=f"mean F1 over all {len(model.labels)} classes"),
        ]  # fmt: skip
    order = list(range(len(examples)))
    random.Random(SEED).shuffle(order)
    chosen = sorted(order[:n_generate])
    started = time.perf_counter()
    lines: list[dict[str, Any]] = []
    for start in range(0, len(chosen), batch_size):
        part = [examples[i] for i in chosen[start : start + batch_size]]
        generated = model.generate(model.batch(part), beam=beam)
        for i, x, reply in zip(chosen[start : start + batch_size], part, generated, strict=True):
            nll, count, _ = scores.per_example[i]
            lines.append({"id": x.id, "turn": x.turn, "response": reply, "reference": x.response,
                          "nll_sum": nll, "n_tokens": count, "level": "word"})  # fmt: skip
    generate_seconds = time.perf_counter() - started
    evaluation = evaluate_predictions(
        "response", list(enumerate(lines, 1)), dataset, split, data_root=data_root, allow_partial=True,
        source=label,
    )  # fmt: skip
    evaluation.task, evaluation.seconds = TASK, generate_seconds
    decoding = "greedy" if beam <= 1 else f"beam {beam}"
    kept = [
        r
        for r in evaluation.rows(label, f"{len(lines)} replies ({decoding}) of a seeded sample")
        if not r.metric.startswith("perplexity")
    ]
    rows += kept
    rows.append(
        ResultRow("speed", dataset, split, len(lines), "replies_per_second", len(lines) / generate_seconds,
                  label, device, generate_seconds, notes=f"{decoding}, batch {batch_size}",
                  definition="generated replies / wall seconds, batched")
    )  # fmt: skip
    rows += _training_rows(Path(path), dataset, label, device)
    return rows, lines


def _training_rows(path: Path, dataset: str, label: str, device: str) -> list[ResultRow]:
    """Training speed, read from the run folder the model came from (`RUN/best` beside `RUN/checkpoint`)."""
    progress_file = path.parent / "checkpoint" / "progress.json"
    if path.name != "best" or not progress_file.is_file():
        return []
    progress = json.loads(progress_file.read_text(encoding="utf-8"))
    steps, batch = progress["step"], progress["config"]["batch_size"]
    if not steps:
        return []
    return [
        ResultRow("training", dataset, "train", steps, "seconds_per_step", progress["seconds"] / steps, label,
                  device, progress["seconds"], notes=f"batch {batch}, validations included",
                  definition="wall seconds of training (incl. validations) per optimizer step")
    ]  # fmt: skip


def data_cooccurrence(dialogues: Sequence[Any]) -> np.ndarray:
    """How often two ED emotions show in the same dialogue (E-CORE's Appendix A): a dialogue shows its label
    and every emotion one of whose Table 12 words it contains. Counts of emotion pairs, diagonal 0."""
    labels = list(ED.labels)
    phrases = {e: [tuple(tokenize(w)) for w in words] for e, words in ED_EMOTION_WORDS.items()}
    counts = np.zeros((len(labels), len(labels)))
    for dialogue in dialogues:
        tokens = [t for turn in dialogue.turns for t in tokenize(turn.text)]
        grams = {tuple(tokens[i : i + n]) for n in (1, 2, 3) for i in range(len(tokens) - n + 1)}
        shown = {e for e, forms in phrases.items() if any(f in grams for f in forms)}
        if dialogue.emotion in phrases:
            shown.add(dialogue.emotion)
        index = sorted(labels.index(e) for e in shown)
        for a in index:
            for b in index:
                if a != b:
                    counts[a, b] += 1
    return counts


def correlation_figure(
    path: str | Path, out: Path, split: str = "train", data_root: str | Path | None = None
) -> tuple[Path, float, int]:
    """Learned R beside the data's co-occurrence (both max-normalised, diagonal blanked); the Pearson
    correlation of their off-diagonal entries; the number of dialogues counted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = load_model(path)
    if not isinstance(model, ECORE):
        raise ModelError(f"{path} is not an E-CORE model; only E-CORE learns an emotion correlation")
    if model.config.emotions != "ed":
        raise ModelError("the co-occurrence words (E-CORE Table 12) exist for the 32 ED emotions only")
    learned = model.learned_correlation().numpy().copy()
    dialogues = load("empathetic_dialogues", split, data_root).dialogues
    data = data_cooccurrence(dialogues)
    off = ~np.eye(len(learned), dtype=bool)
    r = float(np.corrcoef(learned[off], data[off])[0, 1])
    fig, axes = plt.subplots(1, 2, figsize=(16, 7.5))
    for ax, matrix, title in (
        (axes[0], data, f"data: co-occurrence (ED {split}, Table 12 words)"),
        (axes[1], learned, "E-CORE: learned R = SᵀS"),
    ):
        shown = np.where(off, matrix, np.nan) / np.nanmax(np.where(off, np.abs(matrix), np.nan))
        image = ax.imshow(shown, cmap="viridis")
        ax.set_xticks(range(len(ED.labels)), ED.labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(ED.labels)), ED.labels, fontsize=7)
        ax.set_title(title)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(f"emotion correlation, max-normalised, diagonal blank; Pearson r (off-diagonal) = {r:.3f}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out, r, len(dialogues)
