"""Recipe: ECE on RECCON-DD cause spans (labelled) and EmpatheticDialogues contexts (unlabelled).

Loss (paper Eq. 9): L = λ1·L_emo + λ2·L_cau + λ3·L_aux with λ = (1/3, 1, 1).
- L_emo: cross-entropy of the emotion head (Ekman classes; ED labels mapped to Ekman for unlabelled data).
- L_cau: token cross-entropy of the cause head, on labelled words and on pseudo-labelled words.
- Pseudo labels: on an unlabelled context, the `pseudo_top_k` content words (no punctuation, no stop words)
  with the most last-layer [CLS] attention are causes, the other words are not; computed without gradient.
- L_aux = −Σ_t AttCLS_t · Ĉ_t: the paper's inner product of the [CLS] attention and the cause
  probabilities, which links the two. The paper writes it as a loss to minimise without a sign; we
  minimise its negative, so that training pulls the cause head and the attention towards agreement.

Modes: `semi` (everything), `supervised` (labelled data only), `attention` (emotion only; words ranked by
[CLS] attention, the paper's RoBERTa-attention baseline). `aux_weight: 0` gives the no-auxiliary ablation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from emocause.data import load
from emocause.data.schema import Dialogue
from emocause.metrics import cause_recall_at_k
from emocause.models.ece import ECEConfig, ECEModel, is_content_word
from emocause.models.emotion import context_turns
from emocause.models.encoder import EncoderConfig
from emocause.models.words import EncodedBatch, WordInput, word_scores
from emocause.resources.taxonomies import ED_TO_EKMAN, EKMAN
from emocause.training.loop import FitResult, TrainConfig, fit

LABELS = [label for label in EKMAN.labels if label != "neutral"]


@dataclass
class CauseWordExample:
    """One target turn: the words up to it, its emotion, and per word 1 (cause) / 0 / -1 (no label)."""

    dialogue_id: str
    turn: int
    words: WordInput
    emotion: int
    word_labels: list[int] | None
    gold_words: list[str]


@dataclass
class ECERecipe:
    mode: Literal["semi", "supervised", "attention"] = "semi"
    dataset: str = "reccon"
    train_split: str = "train"
    valid_split: str = "valid"
    unlabelled_dataset: str = "empathetic_dialogues"
    emotion_weight: float = 1 / 3
    cause_weight: float = 1.0
    aux_weight: float = 1.0
    pseudo_top_k: int = 3
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=192))
    dropout: float = 0.1
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=2, batch_size=16, learning_rate=5e-4)
    )


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


def cause_word_examples(dialogues: Sequence[Dialogue]) -> list[CauseWordExample]:
    """Every emotional turn with cause spans: its history as words, labelled by span overlap."""
    index = {label: i for i, label in enumerate(LABELS)}
    examples = []
    for d in dialogues:
        for i, target in enumerate(d.turns):
            if target.emotion not in index or not target.cause_spans:
                continue
            words = WordInput.from_turns(d.turns[: i + 1])
            labels = [-1 if t < 0 else 0 for t in words.turn_of]
            offsets = {j: _word_spans(d.turns[j].text) for j in range(i + 1)}
            position = {j: [k for k, t in enumerate(words.turn_of) if t == j] for j in range(i + 1)}
            # Two RECCON train spans point at a later turn; the history cannot hold them.
            spans = [span for span in target.cause_spans if span.turn <= i]
            for span in spans:
                for (start, end), k in zip(offsets[span.turn], position[span.turn], strict=True):
                    if start < span.end and end > span.start:
                        labels[k] = 1
            gold = [w for span in spans for w in span.text.split()]
            examples.append(CauseWordExample(d.id, i, words, index[target.emotion], labels, gold))
    return examples


def unlabelled_examples(dialogues: Sequence[Dialogue]) -> list[CauseWordExample]:
    """Contexts with an emotion but no cause labels (ED: the context before the last listener turn)."""
    index = {label: i for i, label in enumerate(LABELS)}
    out = []
    for d in dialogues:
        emotion = ED_TO_EKMAN.get(d.emotion or "")
        if emotion in index:
            out.append(
                CauseWordExample(d.id, -1, WordInput.from_turns(context_turns(d)), index[emotion], None, [])
            )
    return out


def pseudo_labels(words: WordInput, attention_per_word: Sequence[float], top_k: int) -> list[int]:
    """1 for the top-k content words by [CLS] attention, 0 for the other words, -1 for role markers."""
    candidates = [
        i for i, s in enumerate(attention_per_word) if s != float("-inf") and is_content_word(words.words[i])
    ]
    chosen = set(sorted(candidates, key=lambda i: -attention_per_word[i])[:top_k])
    return [
        -1 if t < 0 or attention_per_word[i] == float("-inf") else int(i in chosen)
        for i, t in enumerate(words.turn_of)
    ]


def token_labels(batch: EncodedBatch, word_labels: Sequence[Sequence[int]]) -> torch.Tensor:
    """Word labels copied to every subword token; -100 where there is no label."""
    labels = torch.full_like(batch.input_ids, -100)
    for row, per_word in enumerate(word_labels):
        for position, word in enumerate(batch.word_index[row].tolist()):
            if word >= 0 and per_word[word] >= 0:
                labels[row, position] = per_word[word]
    return labels


def cause_loss(cause_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Token cross-entropy of the cause head (Eq. 7), averaged over labelled tokens."""
    mask = labels >= 0
    if not mask.any():
        return cause_probs.sum() * 0
    p = cause_probs[mask].clamp(1e-7, 1 - 1e-7)
    y = labels[mask].to(p.dtype)
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


def auxiliary_loss(
    cls_attention: torch.Tensor, cause_probs: torch.Tensor, batch: EncodedBatch
) -> torch.Tensor:
    """−AttCLS·Ĉ over candidate tokens, averaged over the batch (see the module docstring for the sign)."""
    mask = (batch.word_index >= 0).to(cause_probs.dtype)
    return -(cls_attention * cause_probs * mask).sum(-1).mean()


Pair = tuple[CauseWordExample, CauseWordExample | None]


class ECETask:
    def __init__(self, model: ECEModel, recipe: ECERecipe):
        self.model = self.module = model
        self.recipe = recipe

    def collate(self, examples: Sequence[Pair]) -> tuple[list[CauseWordExample], list[CauseWordExample]]:
        return [a for a, _ in examples], [b for _, b in examples if b is not None]

    def loss(
        self, batch: tuple[list[CauseWordExample], list[CauseWordExample]]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        labelled, unlabelled = batch
        r = self.recipe
        encoded = self.model.encode([x.words for x in labelled])
        emotion_logits, cause_probs, _ = self.model(encoded)
        emotions = torch.tensor([x.emotion for x in labelled])
        l_emo = torch.nn.functional.cross_entropy(emotion_logits, emotions)
        l_cau = cause_probs.sum() * 0
        if r.mode != "attention":
            l_cau = cause_loss(cause_probs, token_labels(encoded, [x.word_labels or [] for x in labelled]))
        l_aux = l_cau * 0
        if unlabelled:
            u_encoded = self.model.encode([x.words for x in unlabelled])
            u_logits, u_cause, u_attention = self.model(u_encoded)
            l_emo = (
                l_emo
                + torch.nn.functional.cross_entropy(u_logits, torch.tensor([x.emotion for x in unlabelled]))
            ) / 2
            if r.mode == "semi":
                attention = u_attention.detach()
                pseudo = [
                    pseudo_labels(
                        x.words,
                        word_scores(attention, u_encoded, row, len(x.words.words), "sum"),
                        r.pseudo_top_k,
                    )
                    for row, x in enumerate(unlabelled)
                ]
                l_cau = l_cau + cause_loss(u_cause, token_labels(u_encoded, pseudo))
                l_aux = auxiliary_loss(u_attention, u_cause, u_encoded)
        total = r.emotion_weight * l_emo + r.cause_weight * l_cau + r.aux_weight * l_aux
        return total, {"emo": l_emo.item(), "cau": l_cau.item(), "aux": l_aux.item()}

    def validate(self, examples: Sequence[Pair]) -> dict[str, float]:
        labelled = [a for a, _ in examples]
        return score_cause_words(self.model, labelled)

    def save(self, folder: Path) -> None:
        self.model.save(folder)


def score_cause_words(model: ECEModel, examples: Sequence[CauseWordExample]) -> dict[str, float]:
    analyses = model.analyze([x.words for x in examples])
    ranked = [
        ECEModel.ranked_words(x.words, scores) for x, (_, scores) in zip(examples, analyses, strict=True)
    ]
    gold = [x.gold_words for x in examples]
    recall = {f"top{k}_recall": cause_recall_at_k(gold, ranked, k) for k in (1, 3, 5)}
    accuracy = sum(
        model.labels.index(emotions[0][0]) == x.emotion
        for x, (emotions, _) in zip(examples, analyses, strict=True)
    ) / len(examples)
    return {"score": recall["top3_recall"], **recall, "emotion_accuracy": accuracy}


def train_ece(
    recipe: ECERecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
) -> FitResult:
    torch.manual_seed(recipe.train.seed)  # heads are initialised before the loop seeds anything
    rank_by: Literal["cause_head", "attention"] = "attention" if recipe.mode == "attention" else "cause_head"
    model = ECEModel(ECEConfig(LABELS, recipe.encoder, recipe.dropout, rank_by))
    train = cause_word_examples(load(recipe.dataset, recipe.train_split, data_root).dialogues)
    valid = cause_word_examples(load(recipe.dataset, recipe.valid_split, data_root).dialogues)
    pairs: list[Pair] = [(x, None) for x in train]
    if recipe.mode != "supervised":
        pool = unlabelled_examples(load(recipe.unlabelled_dataset, "train", data_root).dialogues)
        # Each labelled example travels with one unlabelled context, so batches mix both in equal numbers.
        pairs = [(x, pool[i % len(pool)]) for i, x in enumerate(train)]
    return fit(
        ECETask(model, recipe), pairs, [(x, None) for x in valid], recipe.train, run_dir, resume=resume
    )
