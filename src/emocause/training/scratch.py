"""Recipes: the from-scratch generators (Transformer, Multi-TRS, MoEL, E-CORE, IMAGINE) on any dialogue dataset.

Examples are (context, reply, emotion) triples: every listener turn after the first (ED), or each
dialogue's last turn (ECC's context/response examples). The word vocabulary is built from the whole
training split, the embedding starts from GloVe, and training follows the papers: Noam schedule, label
smoothing, emotion loss weight gamma_1 = 1 (and gamma_2 = 1 for E-CORE's correlation loss). The
checkpoint kept is the one with the best validation perplexity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from emocause.data import load
from emocause.errors import ConfigError
from emocause.metrics import perplexity
from emocause.models.ecore import ECORE, ECOREConfig
from emocause.models.imagine import Imagine, ImagineConfig
from emocause.models.moel import MoEL, MoELConfig
from emocause.models.scratch import (
    TAXONOMIES,
    Example,
    MultiTRS,
    ScratchConfig,
    ScratchGenerator,
    build_vocab,
    glove_matrix,
)
from emocause.training.generation import response_examples
from emocause.training.imagine import attach_features
from emocause.training.loop import FitResult, TrainConfig, fit, sampled


def _scratch_train() -> TrainConfig:
    return TrainConfig(
        epochs=2, batch_size=32, learning_rate=1e-3, weight_decay=0.0, schedule="noam", warmup_steps=400,
        max_grad_norm=2.0, max_valid_examples=1000, checkpoint_every=200,
    )  # fmt: skip


@dataclass
class ScratchRecipe:
    dataset: str = "empathetic_dialogues"
    train_split: str = "train"
    valid_split: str = "valid"
    replies: str = "every"
    """every: each listener turn after the first is a target; last: each dialogue's last turn."""
    model: ScratchConfig = field(default_factory=ScratchConfig)
    train: TrainConfig = field(default_factory=_scratch_train)


@dataclass
class MoELRecipe(ScratchRecipe):
    model: MoELConfig = field(default_factory=MoELConfig)


@dataclass
class ECORERecipe(ScratchRecipe):
    model: ECOREConfig = field(default_factory=ECOREConfig)


@dataclass
class ImagineRecipe(ScratchRecipe):
    model: ImagineConfig = field(default_factory=ImagineConfig)


def scratch_examples(
    dataset: str, split: str, replies: str, data_root: str | Path | None = None
) -> list[Example]:
    if replies not in ("every", "last"):
        raise ConfigError(f"replies must be every or last, not {replies!r}")
    dialogues = load(dataset, split, data_root).dialogues
    return [
        Example(x.dialogue_id, x.turn, x.input.context, x.input.emotion, x.response)
        for x in response_examples(dialogues, replies)
    ]


class ScratchTask:
    def __init__(self, model: ScratchGenerator, batch_size: int = 64):
        self.model = self.module = model
        self.batch_size = batch_size

    def collate(self, examples: Sequence[Example]) -> Any:
        return self.model.batch(examples)

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.loss(batch)

    def validate(self, examples: Sequence[Example]) -> dict[str, float]:
        scores = score_examples(self.model, examples, self.batch_size)
        ppl = perplexity(scores.nll, scores.tokens)
        metrics = {"score": -ppl, "perplexity": ppl}
        if scores.labelled:
            metrics["emotion_accuracy"] = scores.correct / scores.labelled
        return metrics

    def save(self, folder: Path) -> None:
        self.model.save(folder)


@dataclass
class Scores:
    nll: float = 0.0
    tokens: int = 0
    correct: int = 0
    labelled: int = 0
    per_example: list[tuple[float, int, list[float] | None]] = field(default_factory=list)


def score_examples(model: ScratchGenerator, examples: Sequence[Example], batch_size: int = 64) -> Scores:
    """Word-level NLL of every reference reply and the emotion predictions, in batches."""
    scores = Scores()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        batch = model.batch(chunk)
        nll, counts, probs = model.score(batch)
        for i, (n, c) in enumerate(zip(nll, counts, strict=True)):
            p = probs[i] if probs is not None else None
            scores.per_example.append((n, c, p))
            scores.nll += n
            scores.tokens += c
            gold = int(batch.emotion[i])
            if p is not None and gold >= 0:
                scores.labelled += 1
                scores.correct += int(max(range(len(p)), key=p.__getitem__) == gold)
    return scores


def build_model(
    cls: type[ScratchGenerator], config: ScratchConfig, train: Sequence[Example]
) -> ScratchGenerator:
    """A fresh model: vocabulary from the training examples, embedding from GloVe."""
    vocab = build_vocab(train, config)
    matrix, found = glove_matrix(vocab, config.vectors)
    config.embedding_dim = int(matrix.shape[1])
    model = cls(config, vocab)
    model.init_embedding(matrix)
    Console(stderr=True).print(f"vocabulary {len(vocab):,} words, {found:,} with GloVe vectors")
    return model


def _trainer(cls: type[ScratchGenerator]) -> Callable[..., FitResult]:
    def train(
        recipe: ScratchRecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
    ) -> FitResult:
        if recipe.model.emotions not in TAXONOMIES:
            raise ConfigError(
                f"model.emotions must be one of {sorted(TAXONOMIES)}, not {recipe.model.emotions!r}"
            )
        torch.manual_seed(recipe.train.seed)
        train_examples = scratch_examples(recipe.dataset, recipe.train_split, recipe.replies, data_root)
        valid_examples = scratch_examples(recipe.dataset, recipe.valid_split, recipe.replies, data_root)
        model = build_model(cls, recipe.model, train_examples)
        if isinstance(model, Imagine):
            # Features only for the examples training sees (the loop's own sampling, same seeds); the
            # vocabulary above still comes from the whole split, as for the other generators.
            train_examples = sampled(train_examples, recipe.train, "train")
            valid_examples = sampled(valid_examples, recipe.train, "valid")
            features = model.config.features
            attach_features(train_examples, features, recipe.dataset, recipe.train_split, data_root=data_root)
            attach_features(valid_examples, features, recipe.dataset, recipe.valid_split, data_root=data_root)
        return fit(ScratchTask(model), train_examples, valid_examples, recipe.train, run_dir, resume=resume)

    return train


GENERATORS: dict[str, tuple[type[ScratchRecipe], type[ScratchGenerator], str]] = {
    "transformer": (ScratchRecipe, ScratchGenerator, "from-scratch Transformer encoder-decoder (GloVe)"),
    "multitrs": (ScratchRecipe, MultiTRS, "Multi-TRS: Transformer + emotion head (GloVe)"),
    "moel": (MoELRecipe, MoEL, "MoEL: mixture of emotion-specific listeners (GloVe)"),
    "ecore": (ECORERecipe, ECORE, "E-CORE: emotion graph, learned emotion correlation (GloVe)"),
    "imagine": (ImagineRecipe, Imagine, "IMAGINE: emotion causes, commonsense knowledge, mechanisms (GloVe)"),
}
TRAINERS = {name: _trainer(cls) for name, (_, cls, _) in GENERATORS.items()}
