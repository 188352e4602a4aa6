"""E-CORE (Fu et al. 2023): emotion correlation enhanced empathetic dialogue generation, from scratch.

On the shared Transformer (`emocause.models.scratch`):
- the multi-resolution emotion graph: M word nodes ([CLS] first) and P emotion nodes (initialised with the
  emotion names' word embeddings); K resolutions, one per intensity threshold ([0, 0.075, 0.15]); a word
  attends the earlier words whose intensity reaches the threshold, every emotion node and [CLS]; an emotion
  node attends every emotion node and [CLS]. Initial edge weights (Eq. 3): c_j / max(c) between words,
  1/P word -> emotion, softmax_j(R) between emotions, 1 to [CLS];
- graph updating (Eqs. 4-7): per resolution an attention head whose scores are re-weighted by the edge
  weights, node features fused by an MLP, edge weights updated from the scores;
- the learned correlation R = S^T S with unit diagonal;
- correlation-aware perception (Eqs. 8-11), the gated emotion signal (Eq. 12), the soft (Eq. 13) or hard
  (OTSU, Eq. 14) strategy re-running the graph, the modified decoder fed the pooled node features
  (Appendix C), and the emotion correlation loss (Eq. 18).

Choices the paper leaves open, made here for stability and written down:
- R = S^T S over unit-norm columns of S, so R is a cosine matrix: symmetric, unit diagonal, entries in
  [-1, 1]. The paper sets the diagonal to 1 but leaves R unbounded, and Eq. 18 rewards large entries;
  over unit columns the loss has a floor;
- attention scores are scaled by 1/sqrt(d_k), node updates keep a residual and a LayerNorm;
- word -> emotion edge weights and node features are averaged over the context words, not summed, so
  their scale does not grow with the context length;
- the hard strategy's OTSU split keeps between 1 and `hard_max_relevant` (5) emotions: it searches the
  split among the top five attention values, the emotions a context plausibly carries;
- word intensities come from VADER, not SKEP (`paper_intensity`); the paper's ablation puts VADER within
  0.4 PPL of SKEP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from emocause.errors import ModelError
from emocause.models.scratch import (
    Encoded,
    ScratchBatch,
    ScratchConfig,
    ScratchGenerator,
    causal_mask,
    masked_mean,
)


@dataclass
class ECOREConfig(ScratchConfig):
    strategy: str = "soft"
    """soft: the emotion attention becomes the word -> emotion edge weights; hard: OTSU keeps the relevant
    emotion nodes and removes the rest."""
    graph: bool = True
    """False: the 'w/o graph' ablation (word -> emotion weights from a linear layer over the encoder states)."""
    graph_layers: int = 2
    thresholds: list[float] = field(default_factory=lambda: [0.0, 0.075, 0.15])
    correlation_perception: bool = True
    """False: the 'w/o co-p' ablation (perception without the emotion -> emotion aggregation)."""
    gated_generation: bool = True
    """False: the 'w/o co-g' ablation (no second graph pass; the decoder gets the first pass's nodes)."""
    correlation_weight: float = 1.0
    """gamma_2; 0 is the 'w/o co-loss' ablation."""
    soft_top_k: int = 3
    hard_max_relevant: int = 5


class EmotionCorrelation(nn.Module):
    """R = S^T S over the unit-norm columns of S: symmetric, unit diagonal. Starts at the identity."""

    def __init__(self, n_emotions: int):
        super().__init__()
        self.S = nn.Parameter(torch.eye(n_emotions) + 0.01 * torch.randn(n_emotions, n_emotions))

    def forward(self) -> torch.Tensor:
        columns = F.normalize(self.S, dim=0)
        return columns.T @ columns


def correlation_loss(R: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """Eq. 18: minus the summed correlation of every pair (i < j) of selected emotions over |V'|, batch mean.

    `selected` is B x P (1 = in V'); a context with one selected emotion contributes 0.
    """
    chosen = selected.to(R.dtype)
    pairs = torch.triu(chosen[:, :, None] * chosen[:, None, :], diagonal=1)
    return (-(pairs * R).sum((1, 2)) / chosen.sum(1).clamp(min=1.0)).mean()


def otsu_relevant(scores: torch.Tensor, max_relevant: int = 5) -> torch.Tensor:
    """OTSU over each row of B x P scores: the split of the sorted values (relevant = the top k, 1 <= k <=
    max_relevant) that maximises the between-class variance w1 (mu1 - mu)^2 + w2 (mu2 - mu)^2. Boolean mask."""
    n = scores.shape[-1]
    if n < 2:
        return torch.ones_like(scores, dtype=torch.bool)
    values, order = scores.detach().sort(dim=-1, descending=True)
    mean = values.mean(-1)
    candidates = []
    for k in range(1, min(max_relevant, n - 1) + 1):
        top, rest = values[:, :k].mean(-1), values[:, k:].mean(-1)
        candidates.append(k / n * (top - mean) ** 2 + (n - k) / n * (rest - mean) ** 2)
    best_k = torch.stack(candidates, -1).argmax(-1) + 1  # B
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(n).expand_as(order).contiguous())
    return ranks < best_k[:, None]


@dataclass
class GraphOutput:
    word_to_emotion: torch.Tensor  # B x M x P, summed over resolutions
    emotion_to_emotion: torch.Tensor  # B x P x P, diagonal 1
    nodes: torch.Tensor  # B x M x D word node features


class GraphLayer(nn.Module):
    def __init__(self, hidden: int, resolutions: int, dropout: float):
        super().__init__()
        self.k, self.d = resolutions, max(hidden // resolutions, 1)
        self.q = nn.Linear(hidden, self.k * self.d, bias=False)
        self.key = nn.Linear(hidden, self.k * self.d, bias=False)
        self.v = nn.Linear(hidden, self.k * self.d, bias=False)
        self.w_v = nn.Linear(hidden, self.k, bias=False)  # W_V^{l,k} in R^{1 x D}, one per resolution
        self.w_e = nn.Parameter(torch.ones(1))  # W_E^l in R^{1 x 1}
        self.mlp = nn.Sequential(nn.Linear(self.k * self.d, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, h: torch.Tensor, edges: torch.Tensor, adjacency: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, _ = h.shape

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(b, n, self.k, self.d).transpose(1, 2)  # B x K x N x d

        q, k, v = heads(self.q(h)), heads(self.key(h)), heads(self.v(h))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.d) * edges  # Eq. 7
        attention = scores.masked_fill(~adjacency, float("-inf")).softmax(-1)  # Eq. 6
        fused = (attention @ v).transpose(1, 2).reshape(b, n, self.k * self.d)
        nodes = self.norm(h + self.dropout(self.mlp(fused)))  # Eq. 4
        node_scale = self.w_v(h).transpose(1, 2).unsqueeze(-1)  # B x K x N x 1
        new_edges = node_scale * (self.w_e * (edges + scores)) * adjacency  # Eq. 5
        return nodes, new_edges


class EmotionGraph(nn.Module):
    def __init__(self, hidden: int, thresholds: list[float], layers: int, dropout: float):
        super().__init__()
        if not thresholds:
            raise ModelError("the emotion graph needs at least one intensity threshold")
        self.thresholds = list(thresholds)
        self.layers = nn.ModuleList(GraphLayer(hidden, len(thresholds), dropout) for _ in range(layers))

    def initial_edges(
        self,
        intensity: torch.Tensor,
        pad: torch.Tensor,
        R: torch.Tensor,
        emotion_init: torch.Tensor,
        keep: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. 3 weights and the neighbourhoods, B x K x N x N (row i lists the nodes i attends)."""
        b, m = intensity.shape
        p = R.shape[0]
        n = m + p
        device = intensity.device
        valid = ~pad
        earlier = torch.tril(torch.ones(m, m, dtype=torch.bool, device=device))
        max_c = (intensity * valid).amax(1, keepdim=True).clamp(min=1e-8)
        word_weight = (intensity / max_c)[:, None, :].expand(b, m, m)
        adjacency = torch.zeros(b, len(self.thresholds), n, n, dtype=torch.bool, device=device)
        edges = torch.zeros(b, len(self.thresholds), n, n, device=device)
        eye = torch.eye(n, dtype=torch.bool, device=device)
        for k, threshold in enumerate(self.thresholds):
            passes = valid & (intensity >= threshold)
            passes[:, 0] = True  # [CLS]
            ww = earlier & passes[:, None, :] & valid[:, :, None]
            adjacency[:, k, :m, :m] = ww
            edges[:, k, :m, :m] = word_weight * ww
            we = valid[:, :, None] & keep[:, None, :]
            adjacency[:, k, :m, m:] = we
            edges[:, k, :m, m:] = emotion_init[:, None, :] * we
            ee = keep[:, :, None] & keep[:, None, :]
            adjacency[:, k, m:, m:] = ee
            edges[:, k, m:, m:] = R.softmax(-1) * ee
            adjacency[:, k, :, 0] |= torch.cat([valid, keep], 1)  # everything attends [CLS]
            edges[:, k, :, 0] = adjacency[:, k, :, 0].float()
        # A self-loop keeps every softmax defined, padding and removed nodes included.
        adjacency |= eye
        return edges, adjacency

    def forward(
        self,
        words: torch.Tensor,
        emotions: torch.Tensor,
        intensity: torch.Tensor,
        pad: torch.Tensor,
        R: torch.Tensor,
        emotion_init: torch.Tensor,
        keep: torch.Tensor,
    ) -> GraphOutput:
        b, m, _ = words.shape
        edges, adjacency = self.initial_edges(intensity, pad, R, emotion_init, keep)
        h = torch.cat([words, emotions.unsqueeze(0).expand(b, -1, -1)], 1)
        for layer in self.layers:
            h, edges = layer(h, edges, adjacency)
        summed = edges.sum(1)
        e2e = summed[:, m:, m:]
        eye = torch.eye(e2e.shape[-1], dtype=torch.bool, device=e2e.device)
        e2e = e2e.masked_fill(eye, 1.0)
        return GraphOutput(summed[:, :m, m:], e2e, h[:, :m])


class NodeFusedDecoderLayer(nn.Module):
    """Appendix C: self-attention, attention over the context, then LayerNorm(y + W_d [h_X^t ; pooled nodes])
    and the feed-forward block."""

    def __init__(self, hidden: int, heads: int, feedforward: int, dropout: float):
        super().__init__()
        self.self_attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.context_attention = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.fuse = nn.Linear(2 * hidden, hidden)
        self.feedforward = nn.Sequential(
            nn.Linear(hidden, feedforward), nn.ReLU(), nn.Dropout(dropout), nn.Linear(feedforward, hidden)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(3))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, y: torch.Tensor, memory: torch.Tensor, nodes: torch.Tensor, masks: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        attended, _ = self.self_attention(
            y, y, y, attn_mask=masks["causal"], key_padding_mask=masks["prefix_pad"], need_weights=False
        )
        y = self.norms[0](y + self.dropout(attended))
        context, _ = self.context_attention(
            y, memory, memory, key_padding_mask=masks["memory_pad"], need_weights=False
        )
        fused = self.fuse(torch.cat([context, nodes[:, None, :].expand_as(context)], -1))
        y = self.norms[1](y + self.dropout(fused))
        return self.norms[2](y + self.dropout(self.feedforward(y)))


class ECORE(ScratchGenerator):
    METHOD = "ecore"
    CONFIG = ECOREConfig
    PREDICTS_EMOTION = True
    config: ECOREConfig

    def build(self) -> None:
        c, p = self.config, len(self.labels)
        if c.strategy not in ("soft", "hard"):
            raise ModelError(f"strategy must be soft or hard, not {c.strategy!r}")
        missing = [e for e in self.labels if e not in self.vocab.index]
        if missing:
            raise ModelError(f"the vocabulary lacks the emotion names {missing}")
        self.register_buffer(
            "emotion_ids", torch.tensor([self.vocab.index[e] for e in self.labels]), persistent=False
        )
        self.correlation = EmotionCorrelation(p)
        if c.graph:
            self.graph = EmotionGraph(c.hidden, c.thresholds, c.graph_layers, c.dropout)
        else:
            self.word_emotion = nn.Linear(c.hidden, p)
        self.context_emotion = nn.Linear(c.hidden, p)  # W_x
        self.perceive = nn.Linear(2 * p, p)  # W_epsilon
        self.gate = nn.Linear(p, p, bias=False)  # W_e
        self.decoder_layers = nn.ModuleList(
            NodeFusedDecoderLayer(c.hidden, c.heads, c.feedforward, c.dropout)
            for _ in range(c.decoder_layers)
        )

    def encode(self, batch: ScratchBatch) -> Encoded:
        c = self.config
        pad = batch.context_pad
        x = self.embed(batch.context, batch.state)
        memory = self.encoder(x, src_key_padding_mask=pad)
        R = self.correlation()
        b, p = x.shape[0], len(self.labels)
        keep_all = torch.ones(b, p, dtype=torch.bool, device=x.device)
        if c.graph:
            # Emotion nodes start from the emotion names' word embeddings (no position, no dialogue state).
            emotions = self.embedding_proj(self.embedding(self.emotion_ids)) * math.sqrt(c.hidden)
            uniform = torch.full((b, p), 1.0 / p, device=x.device)
            first = self.graph(x, emotions, batch.intensity, pad, R, uniform, keep_all)
            word_to_emotion, e2e, nodes = first.word_to_emotion, first.emotion_to_emotion, first.nodes
        else:
            word_to_emotion = self.word_emotion(memory).softmax(-1)
            e2e, nodes = R.expand(b, p, p), memory
        attention = masked_mean(word_to_emotion, pad)  # B x P: Eq. 8's column sum, averaged
        global_signal = (e2e @ attention.unsqueeze(-1)).squeeze(-1) if c.correlation_perception else attention
        main = self.perceive(torch.cat([global_signal, self.context_emotion(masked_mean(memory, pad))], -1))
        gated = torch.sigmoid(self.gate(global_signal)) * main + main  # Eq. 12
        if c.strategy == "soft":
            selected = _top_k_mask(gated, c.soft_top_k)
            init, keep = gated.softmax(-1), keep_all
        else:
            selected = keep = otsu_relevant(gated, c.hard_max_relevant)
            init = keep.float() / keep.sum(-1, keepdim=True)
        if c.graph and c.gated_generation:
            nodes = self.graph(x, emotions, batch.intensity, pad, R, init, keep).nodes
        return Encoded(
            memory, pad, main,
            extra={"nodes": masked_mean(nodes, pad), "selected": selected.float()},
            losses={"eco": correlation_loss(R, selected)},
        )  # fmt: skip

    def weighted_losses(self, encoded: Encoded) -> dict[str, tuple[torch.Tensor, float]]:
        return {"eco": (encoded.losses["eco"], self.config.correlation_weight)}

    def decode(self, encoded: Encoded, prefix: torch.Tensor) -> torch.Tensor:
        masks = {
            "causal": causal_mask(prefix.shape[1], prefix.device),
            "prefix_pad": prefix == 0,
            "memory_pad": encoded.pad,
        }
        y = self.embed(prefix)
        for layer in self.decoder_layers:
            y = layer(y, encoded.memory, encoded.extra["nodes"], masks)
        return self.logits(y)

    def learned_correlation(self) -> torch.Tensor:
        with torch.no_grad():
            return self.correlation().detach()


def _top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    k = min(k, scores.shape[-1])
    mask = torch.zeros_like(scores, dtype=torch.bool)
    return mask.scatter(-1, scores.topk(k, dim=-1).indices, True)
