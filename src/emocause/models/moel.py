"""MoEL (Lin et al. 2019): a mixture of empathetic listeners, on the shared from-scratch Transformer.

The encoder's [CLS] state gives a distribution over the emotions; each emotion has its own listener (one
decoder layer), a shared listener answers every context, and a meta-listener (the decoder layers) turns
their mixture into the reply. The mixture weights are the emotion probabilities restricted to the top k
(softmax over the k best logits), as in MoEL's code; the emotion loss supervises the same logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from emocause.models.scratch import Encoded, ScratchBatch, ScratchConfig, ScratchGenerator, causal_mask


@dataclass
class MoELConfig(ScratchConfig):
    listener_top_k: int = 5
    """Listeners mixed per context; 0 = all, weighted by the full softmax."""


class MoEL(ScratchGenerator):
    METHOD = "moel"
    CONFIG = MoELConfig
    PREDICTS_EMOTION = True
    config: MoELConfig

    def build(self) -> None:
        super().build()  # the meta-listener
        self.listeners = nn.ModuleList(self.decoder_layer() for _ in self.labels)
        self.shared_listener = self.decoder_layer()
        self.emotion_head = nn.Linear(self.config.hidden, len(self.labels))

    def encode(self, batch: ScratchBatch) -> Encoded:
        encoded = super().encode(batch)
        logits = self.emotion_head(encoded.memory[:, 0])
        encoded.emotion_logits = logits
        encoded.extra["listener_weights"] = listener_weights(logits, self.config.listener_top_k)
        return encoded

    def decode(self, encoded: Encoded, prefix: torch.Tensor) -> torch.Tensor:
        y = self.embed(prefix)
        masks = {
            "tgt_mask": causal_mask(prefix.shape[1], prefix.device),
            "tgt_key_padding_mask": prefix == 0,
            "memory_key_padding_mask": encoded.pad,
        }
        weights = encoded.extra["listener_weights"]
        mixed = self.shared_listener(y, encoded.memory, **masks)
        for index, listener in enumerate(self.listeners):
            share = weights[:, index]
            if share.any():  # a listener no context in the batch chose adds nothing
                mixed = mixed + share[:, None, None] * listener(y, encoded.memory, **masks)
        return self.logits(self.decoder(mixed, encoded.memory, **masks))


def listener_weights(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Softmax over each row's k largest logits, 0 elsewhere (k 0 or >= width: the plain softmax)."""
    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits.softmax(-1)
    threshold = logits.topk(top_k, dim=-1).values[:, -1:]
    return logits.masked_fill(logits < threshold, float("-inf")).softmax(-1)
