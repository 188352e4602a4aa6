"""ECE: the word-level emotion-cause extractor of the biased-attention paper (Section 4.1).

A shared encoder with an emotion head on the first ([CLS]) token and a token cause head. Training
(the losses live in `emocause.training.ece`) supervises the cause head on labelled words, and on
unlabelled contexts on pseudo labels: the words with the highest [CLS] attention of the last layer, after
removing punctuation and stop words. Words are scored by the highest cause probability of their subword
tokens; `rank_by="attention"` ranks them by [CLS] attention instead (the paper's attention baseline).

The input is a conversation up to the target turn: each turn starts with a role marker ("speaker:"),
which is never a candidate; every whitespace word of the turns is a candidate cause word.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from torch import nn

from emocause.models.encoder import AdaptedEncoder, EncoderConfig, TrainedModel
from emocause.models.words import EncodedBatch, WordInput, encode_words, word_scores


@dataclass
class ECEConfig:
    labels: list[str]
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=192))
    dropout: float = 0.1
    rank_by: Literal["cause_head", "attention"] = "cause_head"


_PUNCTUATION = set(string.punctuation) | {"``", "''", "..."}


def is_content_word(word: str) -> bool:
    """Not punctuation and not a stop word: the filter the paper applies before taking pseudo labels."""
    bare = word.strip(string.punctuation).lower()
    return bool(bare) and word not in _PUNCTUATION and bare not in ENGLISH_STOP_WORDS


class ECEModel(TrainedModel):
    METHOD = "ece"
    CONFIG = ECEConfig

    def __init__(self, config: ECEConfig):
        super().__init__()
        self.config = config
        self.encoder = AdaptedEncoder(config.encoder)
        # [CLS] attention weights are only returned by the eager attention implementation.
        self.encoder.model.set_attn_implementation("eager")
        self.tokenizer = self.encoder.tokenizer
        self.tokenizer.truncation_side = "left"
        self.dropout = nn.Dropout(config.dropout)
        self.emotion_head = nn.Linear(self.encoder.hidden_size, len(config.labels))
        self.cause_head = nn.Linear(self.encoder.hidden_size, 2)

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    def encode(self, inputs: Sequence[WordInput]) -> EncodedBatch:
        return encode_words(self.tokenizer, inputs, self.config.encoder.max_length)

    def forward(self, batch: EncodedBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Emotion logits [B, E], cause probabilities [B, T] and last-layer [CLS] attention [B, T]."""
        out = self.encoder(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_attentions=True
        )
        hidden = self.dropout(out.last_hidden_state)
        emotion_logits = self.emotion_head(hidden[:, 0])
        cause_probs = self.cause_head(hidden).softmax(-1)[..., 1]
        cls_attention = out.attentions[-1][:, :, 0, :].mean(1)
        return emotion_logits, cause_probs, cls_attention

    @torch.no_grad()
    def analyze(
        self, inputs: Sequence[WordInput], batch_size: int = 32
    ) -> list[tuple[list[tuple[str, float]], list[float]]]:
        """Per input: emotion probabilities (label, p) best first, and one cause score per word (-inf: not a candidate)."""
        was_training = self.training
        self.eval()
        results = []
        for start in range(0, len(inputs), batch_size):
            chunk = list(inputs[start : start + batch_size])
            batch = self.encode(chunk)
            emotion_logits, cause_probs, attention = self(batch)
            token_scores = attention if self.config.rank_by == "attention" else cause_probs
            reduce = "sum" if self.config.rank_by == "attention" else "max"
            for row, x in enumerate(chunk):
                probs = emotion_logits[row].softmax(-1).tolist()
                emotions = sorted(zip(self.labels, probs, strict=True), key=lambda p: -p[1])
                results.append((emotions, word_scores(token_scores, batch, row, len(x.words), reduce)))
        self.train(was_training)
        return results

    @staticmethod
    def ranked_positions(x: WordInput, scores: Sequence[float], turns: set[int] | None = None) -> list[int]:
        """Positions of candidate words, best first, each word string once; only words of `turns` when given."""
        order = sorted(
            (
                i
                for i, s in enumerate(scores)
                if s != float("-inf") and (turns is None or x.turn_of[i] in turns)
            ),
            key=lambda i: -scores[i],
        )
        seen: set[str] = set()
        ranked = []
        for i in order:
            if x.words[i] not in seen:
                seen.add(x.words[i])
                ranked.append(i)
        return ranked

    @staticmethod
    def ranked_words(x: WordInput, scores: Sequence[float], turns: set[int] | None = None) -> list[str]:
        return [x.words[i] for i in ECEModel.ranked_positions(x, scores, turns)]
