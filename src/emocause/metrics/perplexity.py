"""Perplexity, token-weighted over target tokens."""

import math

import torch
import torch.nn.functional as F


def perplexity(nll_sum: float, n_tokens: int) -> float:
    """Perplexity from a summed negative log-likelihood.

    Metric card:
        Definition: exp(sum of per-token NLL (natural log) / number of target tokens). Token-weighted:
            accumulate ``nll_sum`` and ``n_tokens`` over all batches first, then call this once;
            never average per-batch or per-example perplexities.
        Inputs: the total NLL in nats and the number of target (non-pad, non-ignored) tokens, e.g.
            summed from :func:`token_nll`.
        Level / tokenizer: that of the labels the NLL was computed on. Subword perplexity (a BPE or
            WordPiece model) is not comparable with the word-level perplexity that MoEL, EmpDG, CEM and
            similar papers report over their own word vocabulary; report "word" or "subword" and the
            tokenizer next to the number.
        Range: [1, inf); lower is better.
        Reported: the perplexity, with its level and tokenizer.
    """
    if n_tokens <= 0:
        raise ValueError(f"n_tokens must be positive, got {n_tokens}; perplexity of no tokens is undefined")
    return math.exp(nll_sum / n_tokens)


@torch.no_grad()
def token_nll(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> tuple[float, int]:
    """Summed NLL and target-token count of one batch, for :func:`perplexity`.

    ``labels`` must already be aligned with ``logits``: ``labels[b, t]`` is the target scored by
    ``logits[b, t]``. For a causal LM whose labels equal its inputs, shift first:
    ``token_nll(logits[:, :-1], labels[:, 1:])``. Positions equal to ``ignore_index`` (padding, prompt
    tokens) are excluded from both the sum and the count. Logits are upcast to float32.

    Args:
        logits: [B, T, V] unnormalised scores.
        labels: [B, T] target ids, ``ignore_index`` where not scored.
        ignore_index: label value that marks positions to skip.

    Returns:
        (nll_sum in nats, n_tokens); a batch with every position ignored gives (0.0, 0).
    """
    if logits.dim() != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"expected logits [B, T, V] and labels [B, T], got {tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    nll_sum = F.cross_entropy(
        logits.flatten(0, 1).float(), labels.flatten(), ignore_index=ignore_index, reduction="sum"
    )
    return float(nll_sum), int((labels != ignore_index).sum())
