"""Recipe: an empathetic responder (CAER, ECG, their ablations, the plain fine-tune) on any dialogue dataset.

Examples are (context, reference reply) pairs: every listener turn after the first, or the reply of a
context/response example (ECC's `.npy` examples). Emotion, situation and cause sentence come from the data
where it has them (ECC's cause sentence, RECCON's cause spans); with `causes: ece` the cause sentence is
the sharer's sentence holding the word our ECE extractor ranks first, and ECG's word-level cause
probabilities always come from ECE. Selection is on validation perplexity, as ECG's early stopping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from emocause.data import load
from emocause.data.schema import Dialogue
from emocause.errors import ConfigError, ModelError
from emocause.metrics import perplexity
from emocause.models.ece import ECEModel
from emocause.models.lm import LMBatch, LMConfig
from emocause.models.registry import load_model
from emocause.models.responder import (
    Responder,
    ResponderConfig,
    ResponseInput,
    cause_sentence,
    word_causes,
)
from emocause.models.words import WordInput
from emocause.training.loop import FitResult, TrainConfig, fit, subset


@dataclass
class ResponseExample:
    dialogue_id: str
    turn: int
    """The reply's turn index in the dialogue."""
    input: ResponseInput
    response: str


@dataclass
class ResponderRecipe:
    dataset: str = "ecc_examples"
    train_split: str = "train"
    valid_split: str = "valid"
    model: ResponderConfig = field(default_factory=lambda: ResponderConfig(lm=LMConfig(lora_layers=8)))
    replies: Literal["every", "last"] = "every"
    """Which listener turns are targets: every one after the first (ED), or each dialogue's last (ECC examples)."""
    causes: Literal["data", "ece"] = "data"
    """Where cause sentences come from: the dataset's labels, or our ECE extractor (for ED, which has none)."""
    ece_model: str = "ece"
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=1, batch_size=8, learning_rate=2e-4, max_train_examples=600, max_valid_examples=120,
            checkpoint_every=20,
        )
    )  # fmt: skip


def response_examples(dialogues: Sequence[Dialogue], replies: str = "every") -> list[ResponseExample]:
    """One example per listener reply that follows some context; the labels known for the sharer's last turn."""
    examples = []
    for dialogue in dialogues:
        for index, turn in enumerate(dialogue.turns):
            if replies == "last" and index != len(dialogue.turns) - 1:
                continue
            if index == 0 or turn.role != "listener" or not turn.text.strip():
                continue
            context = dialogue.turns[:index]
            sharer = [t for t in context if t.role == "speaker"]
            last = sharer[-1] if sharer else None
            spans = (last.cause_spans if last and last.cause_spans else None) or dialogue.cause_spans
            cause = " ".join(s.text for s in spans) or dialogue.meta.get("cause_sentence")
            emotion = (
                last.emotion if last and last.emotion not in (None, "neutral") else None
            ) or dialogue.emotion
            x = ResponseInput(list(context), dialogue.situation, emotion, cause)
            examples.append(ResponseExample(dialogue.id, index, x, turn.text))
    return examples


def add_extracted_causes(
    examples: Sequence[ResponseExample], ece: ECEModel, *, sentences: bool, batch_size: int = 32
) -> None:
    """Word cause probabilities from ECE on every example; with `sentences`, the cause sentence too."""
    words = [WordInput.from_turns(x.input.context) for x in examples]
    analyses = ece.analyze(words, batch_size)
    for example, w, (_, scores) in zip(examples, words, analyses, strict=True):
        example.input.word_causes = word_causes(w, scores, len(example.input.context))
        if sentences:
            example.input.cause = cause_sentence(
                example.input.context, w, ECEModel.ranked_positions(w, scores)
            )


class ResponderTask:
    def __init__(self, model: Responder):
        self.model = self.module = model

    def collate(self, examples: Sequence[ResponseExample]) -> tuple[LMBatch, torch.Tensor | None]:
        return self.model.batch([x.input for x in examples], [x.response for x in examples])

    def loss(self, batch: tuple[LMBatch, torch.Tensor | None]) -> tuple[torch.Tensor, dict[str, float]]:
        lm_batch, causes = batch
        nll, counts = self.model.target_nll(lm_batch, causes)
        return nll.sum() / counts.sum(), {}

    def validate(self, examples: Sequence[ResponseExample]) -> dict[str, float]:
        scored = self.model.response_nll([x.input for x in examples], [x.response for x in examples])
        ppl = perplexity(sum(n for n, _ in scored), sum(c for _, c in scored))
        return {"score": -ppl, "perplexity": ppl}

    def save(self, folder: Path) -> None:
        self.model.save(folder)


def prepare_examples(
    recipe: ResponderRecipe, split: str, cap: int, seed: int, data_root: str | Path | None
) -> list[ResponseExample]:
    """The split's examples, capped before the (slow) cause extraction runs."""
    dialogues = load(recipe.dataset, split, data_root).dialogues
    examples = subset(response_examples(dialogues, recipe.replies), cap, seed)
    needs_ece = recipe.model.cause_bias or (recipe.causes == "ece" and recipe.model.prompt.cause)
    if needs_ece:
        ece = load_model(recipe.ece_model)
        if not isinstance(ece, ECEModel):
            raise ModelError(f"{recipe.ece_model} is not an ECE model")
        add_extracted_causes(examples, ece, sentences=recipe.causes == "ece")
    return examples


def train_responder(
    recipe: ResponderRecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
) -> FitResult:
    torch.manual_seed(recipe.train.seed)
    if recipe.causes not in ("data", "ece") or recipe.replies not in ("every", "last"):
        raise ConfigError(
            f"causes must be data|ece and replies every|last, not {recipe.causes!r}, {recipe.replies!r}"
        )
    cfg = recipe.train
    train = prepare_examples(recipe, recipe.train_split, cfg.max_train_examples, cfg.seed, data_root)
    valid = prepare_examples(recipe, recipe.valid_split, cfg.max_valid_examples, cfg.seed + 1, data_root)
    return fit(ResponderTask(Responder(recipe.model)), train, valid, cfg, run_dir, resume=resume)
