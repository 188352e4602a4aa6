"""Emotion recognition over a dialogue context: a (LoRA-adapted) encoder, mean pooling, a linear head.

The input is the context the listener answers: every turn before the last listener turn, each prefixed
with its role, joined by the encoder's separator. When it is too long the oldest turns are cut first, so
the latest words of a long chat always count. A model can instead be trained to read ED's one-sentence
situation (`reads: situation`), the input of EmoCause and so of the ECE paper's emotion accuracy. The output
is a probability for every emotion, so callers see co-occurring emotions (top-k), not only the argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from emocause.data.schema import Dialogue, Turn
from emocause.errors import ModelError
from emocause.models.encoder import AdaptedEncoder, EncoderConfig, TrainedModel, mean_pool


@dataclass
class EmotionConfig:
    labels: list[str]
    taxonomy: str
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    dropout: float = 0.1
    reads: str = "context"
    """What a dataset's dialogue gives the model: `context` (the turns) or `situation` (its situation text)."""


def context_turns(dialogue: Dialogue) -> list[Turn]:
    """The turns before the dialogue's last listener turn (all turns when it ends with the speaker)."""
    turns = dialogue.turns
    if len(turns) > 1 and turns[-1].role == "listener":
        return turns[:-1]
    return turns


EMOTION_INPUTS = ("context", "situation")


def emotion_input(dialogue: Dialogue, reads: str = "context") -> list[Turn]:
    """The turns the classifier reads for a dataset dialogue: its context, or its situation as one speaker turn."""
    if reads == "context":
        return context_turns(dialogue)
    if reads == "situation":
        if not dialogue.situation:
            raise ModelError(f"dialogue {dialogue.id} has no situation to read (reads: situation)")
        return [Turn("speaker", dialogue.situation)]
    raise ModelError(f"unknown emotion input {reads!r}; known: {', '.join(EMOTION_INPUTS)}")


def format_context(turns: Sequence[Turn], separator: str) -> str:
    return f" {separator} ".join(f"{turn.role}: {turn.text}" for turn in turns)


class EmotionClassifier(TrainedModel):
    METHOD = "emotion"
    CONFIG = EmotionConfig

    def __init__(self, config: EmotionConfig):
        super().__init__()
        if len(config.labels) < 2:
            raise ModelError("an emotion classifier needs at least two labels")
        self.config = config
        self.encoder = AdaptedEncoder(config.encoder)
        self.tokenizer = self.encoder.tokenizer
        self.tokenizer.truncation_side = "left"
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.encoder.hidden_size, len(config.labels))

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts),
            truncation=True,
            max_length=self.config.encoder.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))

    def text_of(self, turns: Sequence[Turn]) -> str:
        return format_context(turns, self.tokenizer.sep_token or "|")

    @torch.no_grad()
    def probabilities(self, contexts: Sequence[Sequence[Turn]], batch_size: int = 32) -> torch.Tensor:
        """One row of label probabilities per context."""
        was_training = self.training
        self.eval()
        rows = []
        for start in range(0, len(contexts), batch_size):
            batch = self.encode([self.text_of(turns) for turns in contexts[start : start + batch_size]])
            rows.append(self(**batch).softmax(-1))
        self.train(was_training)
        return torch.cat(rows) if rows else torch.empty(0, len(self.labels))

    def top_k(self, contexts: Sequence[Sequence[Turn]], k: int = 3) -> list[list[tuple[str, float]]]:
        """For each context, the k most probable emotions with their probabilities, best first."""
        probs = self.probabilities(contexts)
        values, indices = probs.topk(min(k, len(self.labels)), dim=-1)
        return [
            [(self.labels[i], float(v)) for v, i in zip(row_v.tolist(), row_i.tolist(), strict=True)]
            for row_v, row_i in zip(values, indices, strict=True)
        ]
