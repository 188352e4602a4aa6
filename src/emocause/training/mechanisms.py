"""Recipe: the three communication-mechanism classifiers on EPITOME (train / valid / test held out by post).

EPITOME has no splits. Pairs are split by a hash of the seeker post id, so a post rated with several replies
never sits on both sides: 80 % train, 10 % valid (checkpoint selection), 10 % test (reported). Levels 1 and
2 are "yes", 0 is "no". Loss: the mean of the three heads' cross-entropies; the validation score is the
mean of the three macro-F1s.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from emocause.data import load
from emocause.data.schema import Dialogue
from emocause.errors import ConfigError
from emocause.metrics import emotion_classification
from emocause.models.encoder import EncoderConfig
from emocause.models.mechanisms import MECHANISMS, MechanismClassifier, MechanismConfig
from emocause.training.loop import FitResult, TrainConfig, fit

SPLIT_OF_BUCKET = {0: "test", 1: "valid"}
"""crc32(post id) % 10 -> split; every other bucket is train."""
NO_YES = ["no", "yes"]


@dataclass
class MechanismExample:
    post: str
    reply: str
    labels: tuple[int, int, int]
    """ER, IP, EX: 1 = the reply uses the mechanism (EPITOME level weak or strong)."""


def epitome_split(dialogue: Dialogue) -> str:
    post_id = dialogue.id.split("/", 1)[0]
    return SPLIT_OF_BUCKET.get(zlib.crc32(post_id.encode("utf-8")) % 10, "train")


def mechanism_examples(dialogues: Sequence[Dialogue], split: str) -> list[MechanismExample]:
    if split not in ("train", "valid", "test"):
        raise ConfigError(f"EPITOME split must be train, valid or test, not {split!r}")
    examples = []
    for d in dialogues:
        if epitome_split(d) != split:
            continue
        levels = d.turns[1].meta["mechanisms"]
        labels = tuple(int(levels[m]["level"] > 0) for m in MECHANISMS)
        examples.append(MechanismExample(d.turns[0].text, d.turns[1].text, labels))  # type: ignore[arg-type]
    return examples


@dataclass
class MechanismScores:
    accuracy: dict[str, float]
    macro_f1: dict[str, float]
    n_examples: int


def score_mechanisms(model: MechanismClassifier, examples: Sequence[MechanismExample]) -> MechanismScores:
    """Accuracy and macro-F1 (over no / yes) per mechanism, at the model's threshold."""
    probs = model.probabilities([(x.post, x.reply) for x in examples])
    accuracy, macro = {}, {}
    for m, name in enumerate(MECHANISMS):
        gold = [NO_YES[x.labels[m]] for x in examples]
        predicted = [NO_YES[int(p >= model.config.threshold)] for p in probs[:, m].tolist()]
        result = emotion_classification(gold, predicted, NO_YES)
        accuracy[name], macro[name] = result.accuracy, result.macro_f1
    return MechanismScores(accuracy, macro, len(examples))


@dataclass
class MechanismRecipe:
    dataset: str = "epitome"
    encoder: EncoderConfig = field(default_factory=lambda: EncoderConfig(max_length=160))
    dropout: float = 0.1
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=4, batch_size=16, learning_rate=5e-4, checkpoint_every=50)
    )


class MechanismTask:
    def __init__(self, model: MechanismClassifier):
        self.model = self.module = model

    def collate(self, examples: Sequence[MechanismExample]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        return self.model.encode([(x.post, x.reply) for x in examples]), torch.tensor(
            [x.labels for x in examples]
        )

    def loss(
        self, batch: tuple[dict[str, torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, labels = batch
        logits = self.model(**inputs)
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()), {}

    def validate(self, examples: Sequence[MechanismExample]) -> dict[str, float]:
        scores = score_mechanisms(self.model, examples)
        metrics = {"score": sum(scores.macro_f1.values()) / len(MECHANISMS)}
        for name in MECHANISMS:
            metrics[f"{name}_accuracy"] = scores.accuracy[name]
            metrics[f"{name}_macro_f1"] = scores.macro_f1[name]
        return metrics

    def save(self, folder: Path) -> None:
        self.model.save(folder)


def train_mechanisms(
    recipe: MechanismRecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
) -> FitResult:
    torch.manual_seed(recipe.train.seed)  # heads are initialised before the loop seeds anything
    dialogues = load(recipe.dataset, "all", data_root).dialogues
    model = MechanismClassifier(MechanismConfig(recipe.encoder, recipe.dropout))
    train = mechanism_examples(dialogues, "train")
    valid = mechanism_examples(dialogues, "valid")
    return fit(MechanismTask(model), train, valid, recipe.train, run_dir, resume=resume)
