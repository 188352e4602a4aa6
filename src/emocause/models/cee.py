"""Utterance-level emotion causes (RECCON's causal emotion entailment), scored jointly per target turn.

RECCON's baselines encode every (target, candidate, history) triple separately. Here the history up to the
target is encoded once; each turn is the mean of its tokens, and each candidate turn j is scored against the
target turn i from [u_j, u_i, u_j⊙u_i, |u_j−u_i|] plus an embedding of the distance i−j (0 = the target
itself, RECCON's commonest cause). One encoder pass per target instead of one per pair: about five times
less compute on RECCON, which is what makes CPU training practical. The decision threshold is chosen on
validation and stored with the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from emocause.models.encoder import AdaptedEncoder, EncoderConfig, TrainedModel
from emocause.models.words import EncodedBatch, WordInput, encode_words

MAX_DISTANCE = 8


@dataclass
class CEEConfig:
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=192))
    dropout: float = 0.1
    distance_dim: int = 16
    threshold: float = 0.5


class CauseUtteranceModel(TrainedModel):
    METHOD = "cee"
    CONFIG = CEEConfig

    def __init__(self, config: CEEConfig):
        super().__init__()
        self.config = config
        self.encoder = AdaptedEncoder(config.encoder)
        self.tokenizer = self.encoder.tokenizer
        hidden = self.encoder.hidden_size
        self.distance = nn.Embedding(MAX_DISTANCE + 1, config.distance_dim)
        self.scorer = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(4 * hidden + config.distance_dim, hidden),
            nn.GELU(),
            nn.Linear(hidden, 1),
        )

    def encode(self, inputs: Sequence[WordInput]) -> EncodedBatch:
        return encode_words(self.tokenizer, inputs, self.config.encoder.max_length)

    def forward(self, batch: EncodedBatch, inputs: Sequence[WordInput]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cause logits [B, N] for candidate turns 0..N-1 (the last turn of each input is the target), and a
        mask [B, N] of the candidates that exist and kept tokens after truncation."""
        hidden = self.encoder(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask
        ).last_hidden_state
        n_turns = max(max(x.turn_of) + 1 for x in inputs)
        token_turn = torch.full_like(batch.word_index, -1)
        for row, x in enumerate(inputs):
            turn_of = torch.tensor(x.turn_of, dtype=torch.long)
            valid = batch.word_index[row] >= 0
            token_turn[row, valid] = turn_of[batch.word_index[row, valid]]
        membership = (token_turn.unsqueeze(1) == torch.arange(n_turns).view(1, -1, 1)).to(
            hidden.dtype
        )  # [B, N, T]
        counts = membership.sum(-1, keepdim=True)
        turns = membership @ hidden / counts.clamp(min=1)  # [B, N, H]
        targets = torch.tensor([max(x.turn_of) for x in inputs])
        target = turns[torch.arange(len(inputs)), targets].unsqueeze(1).expand_as(turns)
        distance = (targets.view(-1, 1) - torch.arange(n_turns).view(1, -1)).clamp(0, MAX_DISTANCE)
        features = torch.cat(
            [turns, target, turns * target, (turns - target).abs(), self.distance(distance)], -1
        )
        logits = self.scorer(features).squeeze(-1)
        exists = (torch.arange(n_turns).view(1, -1) <= targets.view(-1, 1)) & (counts.squeeze(-1) > 0)
        return logits, exists

    @torch.no_grad()
    def cause_probabilities(self, inputs: Sequence[WordInput], batch_size: int = 32) -> list[list[float]]:
        """Per input, the probability that each turn up to the target caused the target's emotion
        (0 for a turn cut away by truncation)."""
        was_training = self.training
        self.eval()
        out: list[list[float]] = []
        for start in range(0, len(inputs), batch_size):
            chunk = list(inputs[start : start + batch_size])
            logits, exists = self(self.encode(chunk), chunk)
            probs = (logits.sigmoid() * exists).tolist()
            out += [row[: max(x.turn_of) + 1] for row, x in zip(probs, chunk, strict=True)]
        self.train(was_training)
        return out

    def causes(self, inputs: Sequence[WordInput]) -> list[list[int]]:
        return [
            [j for j, p in enumerate(row) if p >= self.config.threshold]
            for row in self.cause_probabilities(inputs)
        ]
