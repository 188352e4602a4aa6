"""A conversation as words, tokenized so that every subword token knows its word and turn.

Cause extractors score words and utterances, not subword tokens: this is the shared bridge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from emocause.data.schema import Turn


@dataclass
class WordInput:
    """A conversation as words: `turn_of[i]` is the turn of word i, or -1 for a role marker."""

    words: list[str]
    turn_of: list[int]

    @classmethod
    def from_turns(cls, turns: Sequence[Turn]) -> WordInput:
        words: list[str] = []
        turn_of: list[int] = []
        for index, turn in enumerate(turns):
            words.append(f"{turn.role}:")
            turn_of.append(-1)
            for word in turn.text.split():
                words.append(word)
                turn_of.append(index)
        return cls(words, turn_of)


@dataclass
class EncodedBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    word_index: torch.Tensor
    """Per token, the index of its word in the input, or -1 (special tokens, padding, role markers)."""


def encode_words(
    tokenizer: PreTrainedTokenizerBase, inputs: Sequence[WordInput], max_length: int
) -> EncodedBatch:
    """Tokenize word lists (cut from the left when too long, so the latest turns stay) and map tokens to words."""
    tokenizer.truncation_side = "left"
    batch = tokenizer(
        [x.words for x in inputs],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    word_index = torch.full_like(batch["input_ids"], -1)
    for row, x in enumerate(inputs):
        for position, word in enumerate(batch.word_ids(row)):
            if word is not None and x.turn_of[word] >= 0:
                word_index[row, position] = word
    return EncodedBatch(batch["input_ids"], batch["attention_mask"], word_index)


def word_scores(
    token_scores: torch.Tensor, batch: EncodedBatch, row: int, n_words: int, reduce: str
) -> list[float]:
    """Token scores gathered to words (max or sum over a word's subwords); -inf for words cut by truncation."""
    scores = [float("-inf")] * n_words
    for position, word in enumerate(batch.word_index[row].tolist()):
        if word >= 0:
            value = float(token_scores[row, position])
            if scores[word] == float("-inf"):
                scores[word] = value
            else:
                scores[word] = max(scores[word], value) if reduce == "max" else scores[word] + value
    return scores
