"""Recipe: the emotion classifier on a dataset with dialogue-level emotions (ED: 32 classes, ECC: 10)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from emocause.data import load
from emocause.data.schema import Dialogue, Turn
from emocause.errors import ConfigError
from emocause.metrics import emotion_classification
from emocause.models.emotion import EMOTION_INPUTS, EmotionClassifier, EmotionConfig, emotion_input
from emocause.models.encoder import EncoderConfig
from emocause.resources.taxonomies import TAXONOMIES
from emocause.training.loop import FitResult, TrainConfig, fit

Example = tuple[list[Turn], int]


@dataclass
class EmotionRecipe:
    dataset: str = "empathetic_dialogues"
    taxonomy: str = "ed32"
    train_split: str = "train"
    valid_split: str = "valid"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    dropout: float = 0.1
    reads: str = "context"
    """`context` (the dialogue's turns) or `situation` (ED's situation sentence, as EmoCause)."""
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=3, batch_size=32, learning_rate=5e-4)
    )


def emotion_examples(
    dialogues: Sequence[Dialogue], labels: Sequence[str], reads: str = "context"
) -> list[Example]:
    index = {label: i for i, label in enumerate(labels)}
    return [(emotion_input(d, reads), index[d.emotion]) for d in dialogues if d.emotion in index]


class EmotionTask:
    def __init__(self, model: EmotionClassifier):
        self.model = self.module = model

    def collate(self, examples: Sequence[Example]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        batch = self.model.encode([self.model.text_of(turns) for turns, _ in examples])
        return batch, torch.tensor([label for _, label in examples])

    def length(self, example: Example) -> int:
        return len(self.model.text_of(example[0]))

    def loss(
        self, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, labels = batch
        return torch.nn.functional.cross_entropy(self.model(**inputs), labels), {}

    def validate(self, examples: Sequence[Example]) -> dict[str, float]:
        probs = self.model.probabilities([turns for turns, _ in examples])
        labels = self.model.labels
        result = emotion_classification(
            [labels[g] for _, g in examples], [labels[i] for i in probs.argmax(-1).tolist()], labels
        )
        return {"score": result.accuracy, "accuracy": result.accuracy, "macro_f1": result.macro_f1}

    def save(self, folder: Path) -> None:
        self.model.save(folder)


def train_emotion(
    recipe: EmotionRecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
) -> FitResult:
    torch.manual_seed(recipe.train.seed)  # heads are initialised before the loop seeds anything
    if recipe.taxonomy not in TAXONOMIES:
        raise ConfigError(f"unknown taxonomy {recipe.taxonomy!r}; known: {sorted(TAXONOMIES)}")
    if recipe.reads not in EMOTION_INPUTS:
        raise ConfigError(f"reads: {recipe.reads!r}; expected one of {', '.join(EMOTION_INPUTS)}")
    labels = list(TAXONOMIES[recipe.taxonomy].labels)
    config = EmotionConfig(labels, recipe.taxonomy, recipe.encoder, recipe.dropout, recipe.reads)
    model = EmotionClassifier(config)
    splits = (recipe.train_split, recipe.valid_split)
    train, valid = (
        emotion_examples(load(recipe.dataset, split, data_root).dialogues, labels, recipe.reads)
        for split in splits
    )
    return fit(EmotionTask(model), train, valid, recipe.train, run_dir, resume=resume)
