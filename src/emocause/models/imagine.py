"""IMAGINE (Chen & Liang): emotion causes, commonsense knowledge and communication mechanisms, from scratch.

On the shared Transformer (`emocause.models.scratch`), the paper's five modules:
- emotion perception (Eqs. 1-3): the context encoder's [CLS] state, a linear layer, the emotion logits; the
  logits, projected to the model width, are the decoder's first input (y_0 = e_emo, Section 3.3);
- cause extraction (Eqs. 4-5): [CLS] + the cause utterances (word + position + dialogue state), a cause
  encoder; the causes come from an utterance-level extractor before training (`Example.cause_turns`);
- dialogue reaction (Eqs. 6-9): three binary heads on the cause [CLS] (ER, IP, EX), supervised with labels
  of the reference reply, and the mechanism signal e_cm;
- experience projection (Eqs. 10-17): the four commonsense sequences (Affect without [CLS], mean-pooled;
  Behaviour, Physical, Events with [CLS]) through a knowledge encoder, each concatenated to every cause token,
  a refine encoder, H_X ⊕ H_Affect, importance gating sigma(H) * H and an MLP with ReLU, then
  H_Behav ⊕ H_Phys ⊕ H_Events ⊕ e_cm as the decoder's memory;
- verbal expression (Eqs. 18-22): the decoder, the NLL loss, and the FACE diversity loss; loss weights
  1, 1, 1, 1.5 (Eq. 23).

Choices the paper leaves open, made here and written down:
- e_cm (Eq. 9) must be a d-vector to be concatenated to token states, but Eq. 6's e_cmi are 2-way logits:
  each mechanism has a learned embedding per class (no / yes), and e_cm = sum_i sum_k P_cmi(k) E_cmi(k);
- the 4d memory of Eq. 17 is projected back to d for the d-wide decoder (one linear layer);
- FACE's frequencies are counted as in the code IMAGINE builds on (CEM, after Jiang et al. 2019): the
  model's own argmax outputs on the training batches so far (`face_counts: outputs`), or the reference
  replies (`references`, the paper's "training corpus" reading); w = 1 - FQ / max(FQ), normalised to mean 1;
- a context whose extractor found no cause uses its last turn (the target utterance, RECCON's commonest
  cause); the ablation "w/o cause" feeds the whole context to the cause encoder instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from emocause.models.mechanisms import MECHANISMS
from emocause.models.scratch import (
    CLS,
    STATES,
    Encoded,
    Example,
    ScratchBatch,
    ScratchConfig,
    ScratchGenerator,
    causal_mask,
    pad_rows,
    tokenize,
)
from emocause.resources.commonsense import RELATION_GROUPS

GROUPS = tuple(RELATION_GROUPS)
COGNITIVE = ("behaviour", "physical", "events")


@dataclass
class ImagineFeatures:
    """Where the inputs beyond the context come from; bench and training compute them the same way."""

    causes: str = "cee"
    """The utterance-level cause extractor (a shipped model name or a run folder), or `dataset` for the
    dataset's own cause labels (ED valid/test: RecEC's silver causes)."""
    knowledge: str = "retrieval"
    """retrieval (MiniLM over ATOMIC-2020 + COMET generations), generation (the offline chat LM), or
    comet:PATH_OR_HUB_ID (a COMET checkpoint)."""
    mechanisms: str = "mechanisms"
    """The communication-mechanism classifier labelling the reference replies (shipped name or folder)."""
    cache: str = ""
    """Folder for the precomputed features; empty = the emocause cache folder."""


@dataclass
class ImagineConfig(ScratchConfig):
    features: ImagineFeatures = field(default_factory=ImagineFeatures)
    use_causes: bool = True
    """False: the "w/o cause" ablation (the cause encoder reads the whole context)."""
    use_knowledge: bool = True
    """False: "w/o know" (the memory is the cause states, no knowledge refinement)."""
    use_mechanisms: bool = True
    """False: "w/o cm" (no mechanism heads, loss or signal)."""
    mechanism_weight: float = 1.0
    """lambda_3."""
    diversity_weight: float = 1.5
    """lambda_4; 0 is the "w/o DIV" ablation."""
    face_counts: str = "outputs"
    """What FACE counts: outputs (the model's argmax words, as CEM's code) or references (the targets)."""
    max_knowledge_words: int = 40
    """Words kept of each group's concatenated inferences."""


@dataclass
class ImagineBatch(ScratchBatch):
    cause: torch.Tensor = field(default_factory=lambda: torch.empty(0))  # B x L word ids, [CLS] first
    cause_state: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    knowledge: dict[str, torch.Tensor] = field(default_factory=dict)  # group -> B x K word ids
    mechanisms: torch.Tensor = field(default_factory=lambda: torch.empty(0))  # B x 3, -100 where unknown


def face_weights(counts: torch.Tensor) -> torch.Tensor:
    """FACE (Eqs. 20-21): w_i = a FQ_i + 1 with a = -1 / max FQ, normalised to mean 1; all ones before any
    word is counted. Never negative; the most frequent word weighs 0."""
    total = counts.sum()
    if total <= 0:
        return torch.ones_like(counts)
    frequency = counts / total
    weights = 1.0 - frequency / frequency.max()
    return weights / weights.sum() * counts.numel()


class Imagine(ScratchGenerator):
    METHOD = "imagine"
    CONFIG = ImagineConfig
    PREDICTS_EMOTION = True
    config: ImagineConfig
    token_counts: torch.Tensor

    def build(self) -> None:
        super().build()
        c, d = self.config, self.config.hidden
        if c.face_counts not in ("outputs", "references"):
            raise ValueError(f"face_counts must be outputs or references, not {c.face_counts!r}")
        self.emotion_head = nn.Linear(d, len(self.labels))
        self.emotion_signal = nn.Linear(len(self.labels), d)
        self.cause_encoder = nn.TransformerEncoder(
            self._encoder_layer(), c.encoder_layers, enable_nested_tensor=False
        )
        parts = 1
        if c.use_knowledge:
            self.knowledge_encoder = nn.TransformerEncoder(
                self._encoder_layer(), c.encoder_layers, enable_nested_tensor=False
            )
            self.refine_input = nn.Linear(2 * d, d)
            self.refine_encoder = nn.TransformerEncoder(self._encoder_layer(), 1, enable_nested_tensor=False)
            self.refine_mlp = nn.ModuleDict(
                {g: nn.Sequential(nn.Linear(2 * d, d), nn.ReLU()) for g in COGNITIVE}
            )
            parts = len(COGNITIVE)
        if c.use_mechanisms:
            self.mechanism_heads = nn.Linear(d, 2 * len(MECHANISMS))
            self.mechanism_embeddings = nn.Parameter(0.02 * torch.randn(len(MECHANISMS), 2, d))
            parts += 1
        self.memory_proj = nn.Linear(parts * d, d)
        self.register_buffer("token_counts", torch.zeros(len(self.vocab)))

    # -- inputs -----------------------------------------------------------------------------------------

    def batch(self, examples: Sequence[Example]) -> ImagineBatch:
        base = super().batch(examples)
        c = self.config
        causes, states = [], []
        for x in examples:
            turns = list(range(len(x.context)))
            if c.use_causes:
                chosen = sorted(j for j in (x.cause_turns or []) if 0 <= j < len(x.context))
                turns = chosen or turns[-1:]
            words: list[str] = []
            roles: list[int] = []
            for j in turns:
                tokens = tokenize(x.context[j].text)
                words += tokens
                roles += [STATES[x.context[j].role]] * len(tokens)
            words, roles = words[-c.max_context_words :], roles[-c.max_context_words :]
            causes.append(self.vocab.ids([CLS] + words))
            states.append([STATES[CLS]] + roles)
        knowledge = {}
        for group in GROUPS:
            rows = []
            for x in examples:
                words = [w for phrase in (x.knowledge or {}).get(group, []) for w in tokenize(phrase)]
                words = words[: c.max_knowledge_words]
                # Affect is a bag of emotion words, averaged (Eq. 12); the others are read from [CLS] (Eq. 11).
                rows.append(self.vocab.ids(words if group == "affect" and words else [CLS] + words))
            knowledge[group] = pad_rows(rows, 0)
        mechanisms = [
            x.mechanisms if x.mechanisms is not None else [-100] * len(MECHANISMS) for x in examples
        ]
        return ImagineBatch(
            **vars(base), cause=pad_rows(causes, 0), cause_state=pad_rows(states, 0), knowledge=knowledge,
            mechanisms=torch.tensor(mechanisms, dtype=torch.long),
        )  # fmt: skip

    # -- the model ------------------------------------------------------------------------------------------

    def encode(self, batch: ScratchBatch) -> Encoded:
        assert isinstance(batch, ImagineBatch)
        c = self.config
        context_pad = batch.context_pad
        context = self.encoder(self.embed(batch.context, batch.state), src_key_padding_mask=context_pad)
        emotion_logits = self.emotion_head(context[:, 0])
        cause_pad = batch.cause == 0
        causes = self.cause_encoder(
            self.embed(batch.cause, batch.cause_state), src_key_padding_mask=cause_pad
        )
        losses: dict[str, torch.Tensor] = {}
        parts = [causes]
        if c.use_knowledge:
            parts = self._refine(causes, cause_pad, batch.knowledge)
        if c.use_mechanisms:
            logits = self.mechanism_heads(causes[:, 0]).view(-1, len(MECHANISMS), 2)
            known = batch.mechanisms >= 0
            if known.any():
                losses["cm"] = F.cross_entropy(logits[known], batch.mechanisms[known]) * len(MECHANISMS)
            signal = torch.einsum("bmk,mkd->bd", logits.softmax(-1), self.mechanism_embeddings)
            parts.append(signal.unsqueeze(1).expand_as(causes))
        memory = self.memory_proj(torch.cat(parts, -1))
        extra = {"emotion_signal": self.emotion_signal(emotion_logits)}
        return Encoded(memory, cause_pad, emotion_logits, extra, losses)

    def _refine(
        self, causes: torch.Tensor, cause_pad: torch.Tensor, knowledge: dict[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """Eqs. 10-16: per group the knowledge summary joined to every cause token, refined; then gated."""
        refined = {}
        for group in GROUPS:
            ids = knowledge[group]
            states = self.knowledge_encoder(self.embed(ids), src_key_padding_mask=ids == 0)
            if group == "affect":
                keep = (ids != 0).unsqueeze(-1).to(states.dtype)
                summary = (states * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            else:
                summary = states[:, 0]
            joined = torch.cat([causes, summary.unsqueeze(1).expand_as(causes)], -1)
            refined[group] = self.refine_encoder(self.refine_input(joined), src_key_padding_mask=cause_pad)
        gated = []
        for group in COGNITIVE:
            h = torch.cat([refined[group], refined["affect"]], -1)
            gated.append(self.refine_mlp[group](torch.sigmoid(h) * h))
        return gated

    def decode(self, encoded: Encoded, prefix: torch.Tensor) -> torch.Tensor:
        y = self.embed(prefix)
        first = self.dropout(encoded.extra["emotion_signal"] + self.positions[0])
        y = torch.cat([first.unsqueeze(1), y[:, 1:]], dim=1)
        hidden = self.decoder(
            y, encoded.memory, tgt_mask=causal_mask(prefix.shape[1], prefix.device),
            tgt_key_padding_mask=prefix == 0, memory_key_padding_mask=encoded.pad,
        )  # fmt: skip
        return self.logits(hidden)

    # -- losses -----------------------------------------------------------------------------------------

    def weighted_losses(self, encoded: Encoded) -> dict[str, tuple[torch.Tensor, float]]:
        return {name: (value, self.config.mechanism_weight) for name, value in encoded.losses.items()}

    def output_losses(
        self, logits: torch.Tensor, target: torch.Tensor
    ) -> dict[str, tuple[torch.Tensor, float]]:
        if self.config.diversity_weight <= 0:
            return {}
        if self.training:
            counted = logits.argmax(-1) if self.config.face_counts == "outputs" else target
            keep = (target != 0) & (counted != self.vocab.index["<eos>"])
            self.token_counts += torch.bincount(counted[keep], minlength=len(self.vocab)).to(
                self.token_counts
            )
        weights = face_weights(self.token_counts)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), weight=weights, ignore_index=0)
        return {"div": (loss, self.config.diversity_weight)}
