"""ECG's biased self-attention (Ma et al.), as an attention function registered with transformers.

    BiasedScore = Normalize(softmax(QKᵀ/√d + mask) ⊙ (1 + (l/L)·C))

C is the probability that each key token is (part of) an emotion cause, l the 1-based layer number and L the
number of layers, so the bias grows with depth; Normalize rescales every query row to sum to 1. No parameter
is added. The function is registered under `ATTENTION_NAME` and chosen per model with
`model.set_attn_implementation(ATTENTION_NAME)`; it serves any model whose attention goes through
transformers' attention interface (Llama, GPT-2, ...), so no modelling code is copied. The cause
probabilities of a forward pass are given with the `cause_bias` context manager; outside it (or with C = 0)
the function is plain eager attention. Key positions beyond C's length (tokens being generated) get C = 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

ATTENTION_NAME = "emocause_cause_biased"
_CAUSES: ContextVar[torch.Tensor | None] = ContextVar("emocause_cause_probabilities", default=None)


def layer_scale(module: nn.Module) -> float:
    """l / L for the attention module: 1/L in the first layer, 1 in the last."""
    layer = getattr(module, "layer_idx", None)
    if layer is None:
        raise RuntimeError(f"{type(module).__name__} has no layer_idx; biased attention needs one")
    config: Any = module.config
    return (int(layer) + 1) / int(config.num_hidden_layers)


def biased_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **_: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    groups = query.shape[1] // key.shape[1]  # grouped-query attention shares key/value heads
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    scores = torch.matmul(query, key.transpose(2, 3)) * (
        scaling if scaling is not None else query.shape[-1] ** -0.5
    )
    if attention_mask is not None:
        scores = scores + attention_mask[:, :, :, : key.shape[-2]]
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.float32)
    causes = _CAUSES.get()
    if causes is not None:
        per_key = torch.zeros(weights.shape[0], weights.shape[-1], dtype=weights.dtype, device=weights.device)
        width = min(causes.shape[1], per_key.shape[1])
        per_key[:, :width] = causes[:, :width]
        weights = weights * (1.0 + layer_scale(module) * per_key[:, None, None, :])
        weights = weights / weights.sum(-1, keepdim=True)
    weights = weights.to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


AttentionInterface.register(ATTENTION_NAME, biased_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, eager_mask)


@contextlib.contextmanager
def cause_bias(probabilities: torch.Tensor | None) -> Iterator[None]:
    """Bias every biased-attention call inside the block by C (batch x positions, aligned with input_ids)."""
    token = _CAUSES.set(probabilities)
    try:
        yield
    finally:
        _CAUSES.reset(token)


def token_cause_probabilities(
    offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, float]]
) -> list[float]:
    """Per token, the highest cause probability among the character spans (words) it overlaps; 0 elsewhere.

    `offsets` are the tokens' (start, end) characters in the prompt text; `spans` are (start, end, p) of the
    words whose cause probability is known.
    """
    ordered = sorted(spans)
    result = []
    first = 0
    for start, end in offsets:
        while first < len(ordered) and ordered[first][1] <= start:
            first += 1
        best = 0.0
        for span_start, span_end, p in ordered[first:]:
            if span_start >= end:
                break
            if span_end > start and end > start:
                best = max(best, p)
        result.append(best)
    return result
