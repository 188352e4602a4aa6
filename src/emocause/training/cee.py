"""Recipe: utterance-level causes on RECCON-DD (train on train, threshold and checkpoint chosen on valid).

Every emotional (non-neutral) turn with cause evidence is a target; each turn up to and including it is a
candidate, labelled 1 when RECCON lists it as evidence. Loss: binary cross-entropy over all candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from emocause.data import load
from emocause.data.schema import Dialogue
from emocause.metrics import reccon_entailment
from emocause.models.cee import CauseUtteranceModel, CEEConfig
from emocause.models.encoder import EncoderConfig
from emocause.models.words import WordInput
from emocause.training.loop import FitResult, TrainConfig, fit


@dataclass
class CauseTurnExample:
    dialogue_id: str
    turn: int
    words: WordInput
    causes: set[int]


@dataclass
class CEERecipe:
    dataset: str = "reccon"
    train_split: str = "train"
    valid_split: str = "valid"
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=192))
    dropout: float = 0.1
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=2, batch_size=16, learning_rate=5e-4)
    )


def cause_turn_examples(dialogues: Sequence[Dialogue]) -> list[CauseTurnExample]:
    return [
        CauseTurnExample(
            d.id, i, WordInput.from_turns(d.turns[: i + 1]), {j for j in t.cause_turns if j <= i}
        )
        for d in dialogues
        for i, t in enumerate(d.turns)
        if t.emotion not in (None, "neutral") and t.cause_turns
    ]


def best_threshold(labels: Sequence[int], probs: Sequence[float]) -> tuple[float, float]:
    """The threshold (0.05 steps) with the best RECCON macro F1, and that F1."""
    scored = []
    for step in range(1, 20):
        threshold = step / 20
        result = reccon_entailment(list(labels), [int(p >= threshold) for p in probs])
        scored.append((result.macro_f1, -abs(threshold - 0.5), threshold))
    f1, _, threshold = max(scored)
    return threshold, f1


class CEETask:
    def __init__(self, model: CauseUtteranceModel):
        self.model = self.module = model

    def collate(self, examples: Sequence[CauseTurnExample]) -> Sequence[CauseTurnExample]:
        return examples

    def loss(self, batch: Sequence[CauseTurnExample]) -> tuple[torch.Tensor, dict[str, float]]:
        inputs = [x.words for x in batch]
        logits, exists = self.model(self.model.encode(inputs), inputs)
        labels = torch.zeros_like(logits)
        for row, x in enumerate(batch):
            for j in x.causes:
                labels[row, j] = 1.0
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits[exists], labels[exists])
        return loss, {}

    def validate(self, examples: Sequence[CauseTurnExample]) -> dict[str, float]:
        probs = self.model.cause_probabilities([x.words for x in examples])
        labels = [int(j in x.causes) for x in examples for j in range(x.turn + 1)]
        flat = [p for row in probs for p in row]
        threshold, _ = best_threshold(labels, flat)
        self.model.config.threshold = threshold
        result = reccon_entailment(labels, [int(p >= threshold) for p in flat])
        return {"score": result.macro_f1, "pos_f1": result.positive_f1, "neg_f1": result.negative_f1,
                "macro_f1": result.macro_f1, "threshold": threshold}  # fmt: skip

    def save(self, folder: Path) -> None:
        self.model.save(folder)


def train_cee(
    recipe: CEERecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
) -> FitResult:
    torch.manual_seed(recipe.train.seed)  # heads are initialised before the loop seeds anything
    model = CauseUtteranceModel(CEEConfig(recipe.encoder, recipe.dropout))
    train = cause_turn_examples(load(recipe.dataset, recipe.train_split, data_root).dialogues)
    valid = cause_turn_examples(load(recipe.dataset, recipe.valid_split, data_root).dialogues)
    return fit(CEETask(model), train, valid, recipe.train, run_dir, resume=resume)
