"""Communication mechanisms of an empathetic reply (Sharma et al. 2020, EPITOME): Emotional Reaction,
Interpretation, Exploration.

A (LoRA-adapted) encoder reads the seeker's post and the reply as one pair (the post is cut first when the
pair is too long, so the reply is always read whole), mean-pools it, and three linear heads say for each
mechanism whether the reply uses it. As in IMAGINE, EPITOME's levels "weak" and "strong" are merged into
"yes": each head is binary. The three heads share one encoder: the three classifiers cost one encoder pass,
which is what makes labelling every listener turn of EmpatheticDialogues affordable on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from emocause.errors import ModelError
from emocause.models.encoder import AdaptedEncoder, EncoderConfig, TrainedModel, mean_pool

MECHANISMS = ("emotional_reactions", "interpretations", "explorations")
SHORT_NAMES = {"emotional_reactions": "ER", "interpretations": "IP", "explorations": "EX"}


@dataclass
class MechanismConfig:
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=160))
    dropout: float = 0.1
    threshold: float = 0.5
    """Probability of "yes" at which a mechanism counts as used."""


class MechanismClassifier(TrainedModel):
    METHOD = "mechanisms"
    CONFIG = MechanismConfig

    def __init__(self, config: MechanismConfig):
        super().__init__()
        self.config = config
        self.encoder = AdaptedEncoder(config.encoder)
        self.tokenizer = self.encoder.tokenizer
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.Linear(self.encoder.hidden_size, 2 * len(MECHANISMS))

    def encode(self, pairs: Sequence[tuple[str, str]]) -> dict[str, torch.Tensor]:
        if not pairs:
            raise ModelError("no (post, reply) pairs to classify")
        batch = self.tokenizer(
            [post for post, _ in pairs],
            [reply for _, reply in pairs],
            truncation="longest_first",
            max_length=self.config.encoder.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits B x 3 mechanisms x 2 (no, yes)."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = self.dropout(mean_pool(hidden, attention_mask))
        return self.heads(pooled).view(-1, len(MECHANISMS), 2)

    @torch.no_grad()
    def probabilities(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> torch.Tensor:
        """B x 3: the probability that each reply uses each mechanism (ER, IP, EX)."""
        was_training = self.training
        self.eval()
        rows = [
            self(**self.encode(pairs[start : start + batch_size])).softmax(-1)[..., 1]
            for start in range(0, len(pairs), batch_size)
        ]
        self.train(was_training)
        return torch.cat(rows) if rows else torch.empty(0, len(MECHANISMS))

    def predict(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        """Per pair, {mechanism: probability of yes}."""
        return [dict(zip(MECHANISMS, row, strict=True)) for row in self.probabilities(pairs).tolist()]
