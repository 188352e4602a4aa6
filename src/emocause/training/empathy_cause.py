"""Recipe: empathy cause identification on a post/reply set (AcnEmpathize-Cause or a derived one).

With the encoder frozen (the default), sentence embeddings are computed once before training, so each
epoch only runs the co-attention head. Losses: binary focal loss (the paper's best), class-weighted
cross-entropy (positive weight = negatives / positives in train), or plain cross-entropy. The checkpoint
is selected on validation F1 of the cause class, as in the paper; the threshold stays 0.5. The paper's
learning rate (1e-4) fine-tunes BERT; with the encoder frozen only the head learns, at 1e-3.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from emocause.data import load
from emocause.data.derived import split_sentences
from emocause.data.schema import Dialogue
from emocause.errors import ConfigError
from emocause.metrics import binary_classification
from emocause.models.empathy_cause import EmpathyCauseConfig, EmpathyCauseModel, focal_loss
from emocause.models.encoder import EncoderConfig
from emocause.settings import cache_dir
from emocause.training.loop import FitResult, TrainConfig, fit, sampled


@dataclass
class PostReply:
    dialogue_id: str
    post: list[str]
    reply: list[str]
    labels: list[int]
    post_embeddings: torch.Tensor | None = None
    reply_embeddings: torch.Tensor | None = None


@dataclass
class EmpathyCauseRecipe:
    dataset: str = "ecc_empathy_cause"
    train_split: str = "train"
    valid_split: str = "valid"
    loss: Literal["focal", "weighted", "bce"] = "focal"
    attention: bool = True
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=256, lora_r=-1))
    dropout: float = 0.3
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=20, batch_size=16, learning_rate=1e-4, patience=4, warmup_ratio=0.0
        )
    )


def post_reply_examples(dialogues: Sequence[Dialogue]) -> list[PostReply]:
    out = []
    for d in dialogues:
        meta = d.turns[0].meta
        if "sentence_labels" not in meta or len(d.turns) < 2:
            continue
        reply = d.turns[1].text
        out.append(
            PostReply(
                d.id,
                list(meta["sentences"]),
                [reply[a:b] for a, b in split_sentences(reply)] or [reply],
                list(meta["sentence_labels"]),
            )
        )
    return out


class EmpathyCauseTask:
    def __init__(self, model: EmpathyCauseModel, loss: str, positive_weight: float):
        self.model = self.module = model
        self.loss_name = loss
        self.positive_weight = positive_weight

    def collate(self, examples: Sequence[PostReply]) -> Sequence[PostReply]:
        return examples

    def _embeddings(self, examples: Sequence[PostReply]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if all(x.post_embeddings is not None and x.reply_embeddings is not None for x in examples):
            return [x.post_embeddings for x in examples], [x.reply_embeddings for x in examples]  # type: ignore[misc]
        return self.model.sentence_embeddings([x.post for x in examples]), self.model.sentence_embeddings(
            [x.reply for x in examples]
        )

    def loss(self, batch: Sequence[PostReply]) -> tuple[torch.Tensor, dict[str, float]]:
        posts, replies = self._embeddings(batch)
        logits = torch.cat([self.model(p, r) for p, r in zip(posts, replies, strict=True)])
        labels = torch.tensor([y for x in batch for y in x.labels], dtype=logits.dtype)
        if self.loss_name == "focal":
            return focal_loss(logits, labels), {}
        weight = torch.tensor(self.positive_weight if self.loss_name == "weighted" else 1.0)
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, pos_weight=weight), {}

    def validate(self, examples: Sequence[PostReply]) -> dict[str, float]:
        posts, replies = self._embeddings(examples)
        probs = [
            p
            for post, reply in zip(posts, replies, strict=True)
            for p in self.model(post, reply).sigmoid().tolist()
        ]
        labels = [y for x in examples for y in x.labels]
        result = binary_classification(labels, [int(p >= self.model.config.threshold) for p in probs], probs)
        return {"score": result.f1, "precision": result.precision, "recall": result.recall, "f1": result.f1,
                "accuracy": result.accuracy, "roc_auc": result.roc_auc or 0.0}  # fmt: skip

    def save(self, folder: Path) -> None:
        self.model.save(folder)


@torch.no_grad()
def precompute(
    model: EmpathyCauseModel, examples: Sequence[PostReply], cache: Path | None = None, batch_size: int = 32
) -> None:
    """Fill in sentence embeddings once (valid only while the encoder is frozen), reusing `cache` when it
    holds the same examples in the same order."""
    fingerprint = hashlib.sha256(
        "\n".join(x.dialogue_id + "|" + "|".join(x.post + x.reply) for x in examples).encode()
    ).hexdigest()
    if cache is not None and cache.is_file():
        with safe_open(str(cache), "pt") as stored:
            if (stored.metadata() or {}).get("fingerprint") == fingerprint:
                for i, x in enumerate(examples):
                    x.post_embeddings, x.reply_embeddings = (
                        stored.get_tensor(f"{i}.post"),
                        stored.get_tensor(f"{i}.reply"),
                    )
                return
    model.eval()
    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        posts = model.sentence_embeddings([x.post for x in chunk])
        replies = model.sentence_embeddings([x.reply for x in chunk])
        for x, p, r in zip(chunk, posts, replies, strict=True):
            x.post_embeddings, x.reply_embeddings = p, r
    model.train()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tensors = {
            f"{i}.{part}": getattr(x, f"{part}_embeddings").contiguous()
            for i, x in enumerate(examples)
            for part in ("post", "reply")
        }
        save_file(tensors, str(cache), metadata={"fingerprint": fingerprint})


def train_empathy_cause(
    recipe: EmpathyCauseRecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
) -> FitResult:
    torch.manual_seed(recipe.train.seed)  # heads are initialised before the loop seeds anything
    model = EmpathyCauseModel(EmpathyCauseConfig(recipe.encoder, recipe.attention, recipe.dropout))
    train = sampled(
        post_reply_examples(load(recipe.dataset, recipe.train_split, data_root).dialogues),
        recipe.train,
        "train",
    )
    valid = sampled(
        post_reply_examples(load(recipe.dataset, recipe.valid_split, data_root).dialogues),
        recipe.train,
        "valid",
    )
    if not train or not valid:
        raise ConfigError(f"{recipe.dataset} has no post/reply examples with sentence labels")
    positives = sum(sum(x.labels) for x in train)
    negatives = sum(len(x.labels) for x in train) - positives
    if recipe.encoder.lora_r < 0:
        folder = cache_dir() / "sentence-embeddings"
        tag = re.sub(r"[^\w.-]", "_", f"{recipe.encoder.name}-{recipe.encoder.max_length}")
        precompute(model, train, folder / f"{recipe.dataset}-{recipe.train_split}-{tag}.safetensors")
        precompute(model, valid, folder / f"{recipe.dataset}-{recipe.valid_split}-{tag}.safetensors")
    task = EmpathyCauseTask(model, recipe.loss, negatives / max(positives, 1))
    return fit(task, train, valid, recipe.train, run_dir, resume=resume)
