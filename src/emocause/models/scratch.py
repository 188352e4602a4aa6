"""The from-scratch encoder-decoder family of the empathetic-dialogue papers, on one shared implementation.

Transformer (Vaswani et al. 2017), Multi-TRS (Rashkin et al. 2019: an emotion head on the encoder), MoEL
(`emocause.models.moel`) and E-CORE (`emocause.models.ecore`) all use what is here:
- a word vocabulary built from the training split, the embedding initialised from GloVe (offline 6B 50-d by
  default, any GloVe text file instead), projected to the model width as in MoEL's code;
- the context embedding = word + sinusoidal position + dialogue state (speaker / listener / [CLS]),
  with [CLS] first and the oldest words cut when the context is too long;
- a Transformer encoder, decoders built from the same layers, the output layer tied to the embedding;
- label-smoothed training loss, word-level NLL for perplexity, greedy and beam decoding.
A model is `encode` (context -> memory, emotion logits, extra losses) plus `decode` (memory, prefix ->
logits); subclasses change only those two.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Self

import torch
import torch.nn.functional as F
from torch import nn

from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.models.encoder import TrainedModel
from emocause.resources.lexicons import word_intensity
from emocause.resources.taxonomies import ECC, ED, Taxonomy

TAXONOMIES: dict[str, Taxonomy] = {"ed": ED, "ecc": ECC}
VOCAB_FILE = "vocab.json"
PAD, UNK, SOS, EOS, CLS = "<pad>", "<unk>", "<sos>", "<eos>", "<cls>"
SPECIALS = (PAD, UNK, SOS, EOS, CLS)
STATES = {"speaker": 0, "listener": 1, CLS: 2}
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (with their clitics: "don't", "i'm") and single punctuation marks."""
    return _TOKEN.findall(text.lower().replace("_comma_", ","))


def paper_intensity(word: str) -> float:
    """E-CORE's word emotion intensity c = (eta - 0.5)^2 in [0, 0.25], with VADER in place of SKEP:
    eta = 0.5 + valence / 8 maps VADER's -4..4 to SKEP's 0..1, so c = (|valence| / 8)^2."""
    return (word_intensity(word) / 2) ** 2


class WordVocab:
    """Words by frequency in the training texts; row 0..4 are the special tokens."""

    def __init__(self, words: Sequence[str]):
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            raise ModelError(f"a vocabulary must start with {SPECIALS}")
        self.words = list(words)
        self.index = {word: i for i, word in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, extra: Iterable[str] = ()) -> WordVocab:
        counts = Counter(token for text in texts for token in tokenize(text))
        kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        words = list(SPECIALS) + kept
        known = set(words)
        words += [w for w in dict.fromkeys(extra) if w not in known]
        return cls(words)

    def __len__(self) -> int:
        return len(self.words)

    def ids(self, tokens: Sequence[str]) -> list[int]:
        unk = self.index[UNK]
        return [self.index.get(token, unk) for token in tokens]

    def decode(self, ids: Sequence[int]) -> str:
        words = []
        for i in ids:
            if i == self.index[EOS]:
                break
            if self.words[i] not in SPECIALS:
                words.append(self.words[i])
        return " ".join(words)


@dataclass
class ScratchConfig:
    """Sizes and losses shared by the family; the papers' 300-d models are `hidden: 300` with 300-d vectors."""

    emotions: str = "ed"
    """Taxonomy of the emotion labels: ed (32) or ecc (10 + neutral)."""
    vectors: str = ""
    """GloVe text file for the embedding; empty = the offline glove.6B.50d."""
    embedding_dim: int = 50
    hidden: int = 128
    heads: int = 2
    encoder_layers: int = 2
    decoder_layers: int = 2
    feedforward: int = 256
    dropout: float = 0.2
    max_context_words: int = 128
    max_response_words: int = 30
    min_count: int = 2
    """Training words seen fewer times become <unk>."""
    label_smoothing: float = 0.1
    emotion_weight: float = 1.0
    """Weight of the emotion cross-entropy (gamma_1); unused by the plain Transformer."""


@dataclass
class Example:
    """A context (the turns before a reply), its emotion label and the reply."""

    id: str
    turn: int
    context: list[Turn]
    emotion: str | None
    response: str
    cause_turns: list[int] | None = None
    """Indices into `context` of the turns that caused the emotion (IMAGINE); None = not extracted."""
    knowledge: dict[str, list[str]] | None = None
    """Commonsense inferences about the causes by relation group (IMAGINE)."""
    mechanisms: list[int] | None = None
    """Whether the reply uses Emotional Reaction, Interpretation, Exploration (1 / 0) (IMAGINE)."""


@dataclass
class ScratchBatch:
    context: torch.Tensor  # B x M word ids, [CLS] first
    state: torch.Tensor  # B x M dialogue states
    intensity: torch.Tensor  # B x M emotion intensities (E-CORE's graph)
    emotion: torch.Tensor  # B label indices, -100 where unknown
    target: torch.Tensor  # B x T reply ids ending in <eos>, padded with <pad>

    @property
    def context_pad(self) -> torch.Tensor:
        return self.context == 0


@dataclass
class Encoded:
    """What the decoder needs from the context, and the losses the encoder side adds."""

    memory: torch.Tensor
    pad: torch.Tensor
    emotion_logits: torch.Tensor | None = None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)
    losses: dict[str, torch.Tensor] = field(default_factory=dict)

    def take(self, rows: torch.Tensor) -> Encoded:
        """The examples at `rows` (indices into the batch; repeats allowed, as beam search needs)."""

        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.index_select(0, rows)

        logits = None if self.emotion_logits is None else pick(self.emotion_logits)
        return Encoded(pick(self.memory), pick(self.pad), logits, {k: pick(v) for k, v in self.extra.items()})


def sinusoid(length: int, dim: int) -> torch.Tensor:
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    rates = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * rates)
    table[:, 1::2] = torch.cos(position * rates)[:, : dim // 2]
    return table


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    return torch.triu(torch.ones(length, length, dtype=torch.bool, device=device), diagonal=1)


class ScratchGenerator(TrainedModel):
    """The plain Transformer; subclasses override `encode` / `decode` and say whether they predict emotions."""

    METHOD = "transformer"
    CONFIG = ScratchConfig
    PREDICTS_EMOTION = False
    positions: torch.Tensor

    def __init__(self, config: ScratchConfig, vocab: WordVocab):
        super().__init__()
        if config.emotions not in TAXONOMIES:
            raise ModelError(f"emotions must be one of {sorted(TAXONOMIES)}, not {config.emotions!r}")
        self.config = config
        self.vocab = vocab
        self.labels = list(TAXONOMIES[config.emotions].labels)
        self.embedding = nn.Embedding(len(vocab), config.embedding_dim, padding_idx=0)
        self.embedding_proj = nn.Linear(config.embedding_dim, config.hidden, bias=False)
        self.output_proj = nn.Linear(config.hidden, config.embedding_dim, bias=False)
        self.state_embedding = nn.Embedding(len(STATES), config.hidden)
        self.register_buffer("positions", sinusoid(1024, config.hidden), persistent=False)
        self.dropout = nn.Dropout(config.dropout)
        self.encoder = nn.TransformerEncoder(
            self._encoder_layer(), config.encoder_layers, enable_nested_tensor=False
        )
        self.build()

    def build(self) -> None:
        """The decoder side; subclasses replace it."""
        self.decoder = nn.TransformerDecoder(self.decoder_layer(), self.config.decoder_layers)

    def _encoder_layer(self) -> nn.TransformerEncoderLayer:
        c = self.config
        return nn.TransformerEncoderLayer(c.hidden, c.heads, c.feedforward, c.dropout, batch_first=True)

    def decoder_layer(self) -> nn.TransformerDecoderLayer:
        c = self.config
        return nn.TransformerDecoderLayer(c.hidden, c.heads, c.feedforward, c.dropout, batch_first=True)

    def init_embedding(self, matrix: torch.Tensor) -> None:
        if matrix.shape != self.embedding.weight.shape:
            raise ModelError(
                f"vectors of shape {tuple(matrix.shape)} for an embedding of {tuple(self.embedding.weight.shape)}"
            )
        with torch.no_grad():
            self.embedding.weight.copy_(matrix)
            self.embedding.weight[0].zero_()

    # -- inputs -----------------------------------------------------------------------------------------

    def batch(self, examples: Sequence[Example]) -> ScratchBatch:
        c = self.config
        contexts, states, intensities, targets = [], [], [], []
        for x in examples:
            words: list[str] = []
            roles: list[int] = []
            for turn in x.context:
                tokens = tokenize(turn.text)
                words += tokens
                roles += [STATES[turn.role]] * len(tokens)
            words, roles = words[-c.max_context_words :], roles[-c.max_context_words :]
            contexts.append(self.vocab.ids([CLS] + words))
            states.append([STATES[CLS]] + roles)
            intensities.append([0.0] + [paper_intensity(w) for w in words])
            reply = tokenize(x.response)[: c.max_response_words]
            targets.append(self.vocab.ids(reply) + [self.vocab.index[EOS]])
        emotion = [self.label_index(x.emotion) for x in examples]
        return ScratchBatch(
            pad_rows(contexts, 0), pad_rows(states, 0), pad_rows(intensities, 0.0, torch.float32),
            torch.tensor(emotion), pad_rows(targets, 0),
        )  # fmt: skip

    def label_index(self, emotion: str | None) -> int:
        if emotion is None:
            return -100
        normalized = TAXONOMIES[self.config.emotions].normalize(emotion)
        return -100 if normalized is None else self.labels.index(normalized)

    def embed(self, ids: torch.Tensor, states: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embedding_proj(self.embedding(ids)) * math.sqrt(self.config.hidden)
        x = x + self.positions[: ids.shape[1]]
        if states is not None:
            x = x + self.state_embedding(states)
        return self.dropout(x)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.output_proj(hidden) @ self.embedding.weight.T

    # -- the two halves subclasses change ------------------------------------------------------------

    def encode(self, batch: ScratchBatch) -> Encoded:
        pad = batch.context_pad
        memory = self.encoder(self.embed(batch.context, batch.state), src_key_padding_mask=pad)
        return Encoded(memory, pad)

    def decode(self, encoded: Encoded, prefix: torch.Tensor) -> torch.Tensor:
        y = self.embed(prefix)
        hidden = self.decoder(
            y, encoded.memory, tgt_mask=causal_mask(prefix.shape[1], prefix.device),
            tgt_key_padding_mask=prefix == 0, memory_key_padding_mask=encoded.pad,
        )  # fmt: skip
        return self.logits(hidden)

    # -- losses ------------------------------------------------------------------------------------------

    def decoder_input(self, target: torch.Tensor) -> torch.Tensor:
        sos = torch.full_like(target[:, :1], self.vocab.index[SOS])
        prefix = torch.cat([sos, target[:, :-1]], dim=1)
        return prefix.masked_fill(prefix == self.vocab.index[EOS], 0)

    def loss(self, batch: ScratchBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """Label-smoothed generation loss + gamma_1 x emotion cross-entropy + the model's own losses."""
        encoded = self.encode(batch)
        logits = self.decode(encoded, self.decoder_input(batch.target))
        generation = F.cross_entropy(
            logits.flatten(0, 1), batch.target.flatten(), ignore_index=0,
            label_smoothing=self.config.label_smoothing,
        )  # fmt: skip
        total = generation
        parts = {"gen": generation.item()}
        if encoded.emotion_logits is not None and (batch.emotion >= 0).any():
            emotion = F.cross_entropy(encoded.emotion_logits, batch.emotion, ignore_index=-100)
            total = total + self.config.emotion_weight * emotion
            parts["emo"] = emotion.item()
        weighted = {**self.weighted_losses(encoded), **self.output_losses(logits, batch.target)}
        for name, (value, weight) in weighted.items():
            total = total + weight * value
            parts[name] = value.item()
        return total, parts

    def weighted_losses(self, encoded: Encoded) -> dict[str, tuple[torch.Tensor, float]]:
        return {name: (value, 1.0) for name, value in encoded.losses.items()}

    def output_losses(
        self, logits: torch.Tensor, target: torch.Tensor
    ) -> dict[str, tuple[torch.Tensor, float]]:
        """Losses on the decoder's output (IMAGINE's diversity loss), with their weights; none here."""
        return {}

    @torch.no_grad()
    def score(self, batch: ScratchBatch) -> tuple[list[float], list[int], list[list[float]] | None]:
        """Per example: NLL of the reply's words (incl. <eos>, no smoothing), their count, emotion probabilities."""
        encoded = self.encode(batch)
        logits = self.decode(encoded, self.decoder_input(batch.target))
        nll = F.cross_entropy(logits.transpose(1, 2), batch.target, ignore_index=0, reduction="none")
        counts = (batch.target != 0).sum(1)
        probs = None
        if encoded.emotion_logits is not None:
            probs = encoded.emotion_logits.softmax(-1).tolist()
        return nll.sum(1).tolist(), counts.tolist(), probs

    # -- decoding ----------------------------------------------------------------------------------------

    @torch.no_grad()
    def generate(self, batch: ScratchBatch, beam: int = 1, max_words: int | None = None) -> list[str]:
        """Replies by greedy search (beam 1) or beam search with length-normalised scores."""
        max_words = max_words or self.config.max_response_words
        encoded = self.encode(batch)
        if beam <= 1:
            return self._greedy(encoded, max_words)
        return [
            self._beam(encoded.take(torch.tensor([i])), beam, max_words)
            for i in range(batch.context.shape[0])
        ]

    def _greedy(self, encoded: Encoded, max_words: int) -> list[str]:
        n = encoded.memory.shape[0]
        prefix = torch.full((n, 1), self.vocab.index[SOS], dtype=torch.long)
        done = torch.zeros(n, dtype=torch.bool)
        eos = self.vocab.index[EOS]
        for _ in range(max_words + 1):
            step = self._forbid_specials(self.decode(encoded, prefix)[:, -1])
            token = step.argmax(-1).masked_fill(done, 0)
            prefix = torch.cat([prefix, token.unsqueeze(1)], dim=1)
            done |= token == eos
            if done.all():
                break
        return [self.vocab.decode(row[1:].tolist()) for row in prefix]

    def _forbid_specials(self, scores: torch.Tensor) -> torch.Tensor:
        """Scores of the next word with <pad>, <sos> and <cls> ruled out (a reply never holds them)."""
        scores[:, [0, self.vocab.index[SOS], self.vocab.index[CLS]]] = -math.inf
        return scores

    def _beam(self, encoded: Encoded, width: int, max_words: int) -> str:
        eos, sos = self.vocab.index[EOS], self.vocab.index[SOS]
        beams: list[tuple[list[int], float]] = [([sos], 0.0)]
        finished: list[tuple[list[int], float]] = []
        for _ in range(max_words + 1):
            prefix = torch.tensor([b for b, _ in beams])
            step = self.decode(encoded.take(torch.zeros(len(beams), dtype=torch.long)), prefix)[:, -1]
            step = self._forbid_specials(step.log_softmax(-1))
            candidates = []
            top = step.topk(width, dim=-1)
            for row, (tokens, score) in enumerate(beams):
                for value, token in zip(top.values[row].tolist(), top.indices[row].tolist(), strict=True):
                    candidates.append((tokens + [token], score + value))
            candidates.sort(key=lambda c: c[1], reverse=True)
            beams = []
            for tokens, score in candidates[:width]:
                (finished if tokens[-1] == eos else beams).append((tokens, score))
            if not beams or len(finished) >= width:
                break
        pool = finished or beams
        best, _ = max(pool, key=lambda c: c[1] / (len(c[0]) - 1))
        return self.vocab.decode(best[1:])

    # -- files -------------------------------------------------------------------------------------------

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VOCAB_FILE).write_text(json.dumps(self.vocab.words), encoding="utf-8")
        return super().save(folder)

    @classmethod
    def build_saved(cls, folder: Path, config: Any) -> Self:
        try:
            words = json.loads((folder / VOCAB_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ModelError(f"{folder / VOCAB_FILE} is missing or not JSON ({error})") from error
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ModelError(f"{folder / VOCAB_FILE} is not a list of words")
        return cls(config, WordVocab(words))


class MultiTRS(ScratchGenerator):
    """Rashkin et al.'s multitask Transformer: the same encoder-decoder plus an emotion classifier on the
    mean-pooled encoder states, trained jointly."""

    METHOD = "multitrs"
    PREDICTS_EMOTION = True

    def build(self) -> None:
        super().build()
        self.emotion_head = nn.Linear(self.config.hidden, len(self.labels))

    def encode(self, batch: ScratchBatch) -> Encoded:
        encoded = super().encode(batch)
        encoded.emotion_logits = self.emotion_head(masked_mean(encoded.memory, encoded.pad))
        return encoded


def masked_mean(hidden: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    keep = (~pad).unsqueeze(-1).to(hidden.dtype)
    return (hidden * keep).sum(1) / keep.sum(1).clamp(min=1.0)


def pad_rows(rows: Sequence[Sequence[Any]], value: Any, dtype: torch.dtype = torch.long) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=dtype)


def build_vocab(examples: Sequence[Example], config: ScratchConfig) -> WordVocab:
    """The training split's words (contexts and replies) plus the emotion names, which E-CORE embeds."""
    texts = (t.text for x in examples for t in x.context)
    replies = (x.response for x in examples)
    labels = TAXONOMIES[config.emotions].labels
    return WordVocab.build(chain(texts, replies), config.min_count, extra=labels)


def glove_matrix(vocab: WordVocab, vectors: str) -> tuple[torch.Tensor, int]:
    """The embedding rows for `vocab` from GloVe (`vectors` path, or the offline 50-d); how many it knew."""
    from emocause.resources.glove import load_glove

    glove = load_glove(vectors or None)
    matrix, found = glove.embedding_matrix(vocab.words)
    return torch.from_numpy(matrix), found
