"""Recipe: a safety screen (`models/screen.py`) on the written safety sets, split by family.

`kind: risk` trains the risk screen on `risk-train*.jsonl` (none / concern / crisis and the five categories);
`kind: reply` the reply screen on `replies-train*.jsonl` (safe / unsafe and the unsafe categories). Both add real
harmless text from EmpatheticDialogues' training split, which the written look-alikes alone cannot cover: for
risk, speakers' opening turns; for replies, listeners' replies. Supplement texts that the rule layer flags are
left out, so no rule-flagged text is taught as harmless.

Loss: class-weighted cross-entropy of the level head plus that of the category head. The checkpoint is selected
on the development families by the ROC AUC of "flagged"; then the thresholds are chosen on the same families:
`flag_threshold` the lowest at which at most `max_dev_false_positive_rate` of the written harmless texts
are flagged, `top_threshold` the one that best separates the most severe level from the others among the
flagged texts. The test files are never read here.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from emocause.data import load
from emocause.data.safety import (
    REPLY_CATEGORIES,
    REPLY_LEVELS,
    RISK_CATEGORIES,
    RISK_LEVELS,
    ScreenExample,
    family_split,
    load_reply_examples,
    load_risk_examples,
)
from emocause.errors import ConfigError
from emocause.models.encoder import MODEL_CARD, EncoderConfig
from emocause.models.screen import ScreenClassifier, ScreenConfig
from emocause.resources.safety_patterns import PatternScreen
from emocause.training.loop import FitResult, TrainConfig, fit

SUPPLEMENT_KIND = "ed_supplement"
KINDS = {
    "risk": (
        ("risk-train.jsonl", "risk-train-2.jsonl", "risk-train-3.jsonl", "risk-train-4.jsonl"),
        RISK_LEVELS,
        RISK_CATEGORIES,
        "crisis",
    ),
    "reply": (
        ("replies-train.jsonl", "replies-train-2.jsonl", "replies-train-3.jsonl"),
        REPLY_LEVELS,
        REPLY_CATEGORIES,
        "output",
    ),
}


@dataclass
class ScreenRecipe:
    kind: str = "risk"
    examples: list[str] = field(default_factory=list)
    """Safety sets by packaged file name or path; empty: the kind's training sets."""
    dev_share: float = 0.2
    supplement: int = 1500
    """Harmless EmpatheticDialogues texts added to training (0: none)."""
    max_dev_false_positive_rate: float = 0.02
    max_dev_check_false_positive_rate: float = 0.0
    """Risk screen: the share of development look-alikes that may get the check-in (concern) reply; above 0 sets
    `check_threshold`, so texts the classifier is unsure of are asked about rather than let through."""
    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(max_length=96, lora_r=8, lora_alpha=16)
    )
    dropout: float = 0.1
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(epochs=4, batch_size=32, learning_rate=5e-4)
    )


def supplement_texts(
    kind: str, n: int, rules: PatternScreen, data_root: str | Path | None, seed: int
) -> list[str]:
    """`n` harmless texts from ED's training split that the rules do not flag."""
    if n <= 0:
        return []
    role = "speaker" if kind == "risk" else "listener"
    texts = sorted(
        {
            t.text
            for d in load("empathetic_dialogues", "train", data_root).dialogues
            for t in d.turns[:2]
            if t.role == role
        }
    )
    random.Random(seed).shuffle(texts)
    return [t for t in texts[: 2 * n] if not rules.flags(t)][:n]


class ScreenTask:
    def __init__(self, model: ScreenClassifier, train: Sequence[ScreenExample]):
        self.model = self.module = model
        levels, categories = model.config.levels, model.config.categories
        self.level_index = {name: i for i, name in enumerate(levels)}
        self.category_index = {name: i for i, name in enumerate(categories)}
        # sqrt inverse frequency: the rare severe levels count more without drowning the harmless majority
        counts = Counter(x.level for x in train)
        self.level_weights = torch.tensor(
            [(len(train) / (len(levels) * max(counts[name], 1))) ** 0.5 for name in levels]
        )

    def text_of(self, x: ScreenExample) -> str:
        return " ".join(x.turns)

    def collate(
        self, examples: Sequence[ScreenExample]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        batch = self.model.encode([self.text_of(x) for x in examples])
        levels = torch.tensor([self.level_index[x.level] for x in examples])
        categories = torch.tensor([self.category_index[x.category] for x in examples])
        return batch, levels, categories

    def length(self, x: ScreenExample) -> int:
        return len(self.text_of(x))

    def loss(
        self, batch: tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        inputs, levels, categories = batch
        level_logits, category_logits = self.model(**inputs)
        level_loss = torch.nn.functional.cross_entropy(level_logits, levels, weight=self.level_weights)
        category_loss = torch.nn.functional.cross_entropy(category_logits, categories)
        return level_loss + category_loss, {
            "level_loss": level_loss.item(),
            "category_loss": category_loss.item(),
        }

    def validate(self, examples: Sequence[ScreenExample]) -> dict[str, float]:
        levels, _ = self.model.probabilities([self.text_of(x) for x in examples])
        flagged = [int(x.level != self.model.config.levels[0]) for x in examples]
        scores = (1 - levels[:, 0]).tolist()
        auc = roc_auc_score(flagged, scores) if 0 < sum(flagged) < len(flagged) else 0.0
        accuracy = sum(
            int(levels[i].argmax()) == self.level_index[x.level] for i, x in enumerate(examples)
        ) / len(examples)
        return {"score": float(auc), "flag_auc": float(auc), "level_accuracy": accuracy}

    def save(self, folder: Path) -> None:
        self.model.save(folder)


@dataclass
class Calibration:
    flag_threshold: float
    top_threshold: float
    dev_flag_recall: float
    dev_false_positive_rate: float
    dev_top_accuracy: float
    n_dev_flagged: int
    n_dev_harmless: int
    check_threshold: float | None = None
    dev_check_recall: float | None = None
    """Share of risky development texts that get a safety reply of either level."""
    dev_check_false_positive_rate: float | None = None


def _threshold_for(harmless: list[float], rate: float) -> float:
    """The lowest threshold at which at most `rate` of the (sorted) harmless scores reach it."""
    allowed = int(rate * len(harmless))
    return min(0.99, max(0.05, harmless[-(allowed + 1)] + 1e-6)) if harmless else 0.5


def calibrate(
    model: ScreenClassifier,
    dev: Sequence[ScreenExample],
    max_false_positive_rate: float,
    max_check_rate: float = 0.0,
) -> Calibration:
    """Thresholds on the development families (see the module's description)."""
    levels, _ = model.probabilities([" ".join(x.turns) for x in dev])
    flag = (1 - levels[:, 0]).tolist()
    top = levels[:, -1].tolist()
    harmless = sorted(f for f, x in zip(flag, dev, strict=True) if x.level == model.config.levels[0])
    risky = [(f, t, x) for f, t, x in zip(flag, top, dev, strict=True) if x.level != model.config.levels[0]]
    flag_threshold = _threshold_for(harmless, max_false_positive_rate)
    flagged = [(t, x) for f, t, x in risky if f >= flag_threshold]
    candidates = [i / 100 for i in range(5, 96)]
    severe = model.config.levels[-1]

    def top_accuracy(threshold: float) -> float:
        return sum((t >= threshold) == (x.level == severe) for t, x in flagged) / max(len(flagged), 1)

    top_threshold = max(candidates, key=lambda c: (top_accuracy(c), -abs(c - 0.5)))
    calibration = Calibration(
        flag_threshold,
        top_threshold,
        len(flagged) / max(len(risky), 1),
        sum(f >= flag_threshold for f in harmless) / max(len(harmless), 1),
        top_accuracy(top_threshold),
        len(risky),
        len(harmless),
    )
    if max_check_rate > 0 and len(model.config.levels) > 2:
        check = min(_threshold_for(harmless, max_check_rate), flag_threshold)
        calibration.check_threshold = check
        calibration.dev_check_recall = sum(f >= check for f, _, _ in risky) / max(len(risky), 1)
        calibration.dev_check_false_positive_rate = sum(f >= check for f in harmless) / max(len(harmless), 1)
    return calibration


def screen_examples(
    recipe: ScreenRecipe, data_root: str | Path | None
) -> tuple[list[ScreenExample], list[ScreenExample]]:
    if recipe.kind not in KINDS:
        raise ConfigError(f"kind {recipe.kind!r}: expected one of {', '.join(KINDS)}")
    default_files, levels, categories, rules_section = KINDS[recipe.kind]
    loader = load_risk_examples if recipe.kind == "risk" else load_reply_examples
    written = [x for name in recipe.examples or default_files for x in loader(name)]
    train = [x for x in written if family_split(x.family, recipe.dev_share) == "train"]
    dev = [x for x in written if family_split(x.family, recipe.dev_share) == "dev"]
    extra = supplement_texts(
        recipe.kind, recipe.supplement, PatternScreen(rules_section), data_root, recipe.train.seed
    )
    train += [
        ScreenExample(f"ed-{i}", (t,), levels[0], categories[0], SUPPLEMENT_KIND) for i, t in enumerate(extra)
    ]
    return train, dev


def train_screen(
    recipe: ScreenRecipe, run_dir: Path, *, resume: bool = False, data_root: str | Path | None = None
) -> FitResult:
    torch.manual_seed(recipe.train.seed)
    train, dev = screen_examples(recipe, data_root)
    _, levels, categories, _ = KINDS[recipe.kind]
    model = ScreenClassifier(ScreenConfig(list(levels), list(categories), recipe.encoder, recipe.dropout))
    result = fit(ScreenTask(model, train), train, dev, recipe.train, run_dir, resume=resume)
    calibrate_run(recipe, run_dir, result.best_folder, train, dev)
    return result


def calibrate_run(
    recipe: ScreenRecipe,
    run_dir: Path,
    best_folder: Path,
    train: Sequence[ScreenExample],
    dev: Sequence[ScreenExample],
) -> Calibration:
    """Choose the thresholds of the run's best model on `dev` and write them into its card, with a model card."""
    best = ScreenClassifier.load(best_folder)
    calibration = calibrate(
        best, dev, recipe.max_dev_false_positive_rate, recipe.max_dev_check_false_positive_rate
    )
    best.config.flag_threshold = calibration.flag_threshold
    best.config.top_threshold = calibration.top_threshold
    best.config.check_threshold = calibration.check_threshold
    card_path = best_folder / MODEL_CARD
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["config"] = asdict(best.config)
    card["calibration"] = asdict(calibration)
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (run_dir / "calibration.json").write_text(
        json.dumps(asdict(calibration), indent=2) + "\n", encoding="utf-8"
    )
    (best_folder / "README.md").write_text(
        model_card(recipe, best.config, calibration, len(train)), encoding="utf-8"
    )
    return calibration


def _check_line(calibration: Calibration) -> str:
    if calibration.check_threshold is None:
        return ""
    return (
        f"- check-in threshold {calibration.check_threshold:.3f}: below the flag threshold, texts from here get the "
        f"concern check-in; with it {calibration.dev_check_recall:.1%} of risky development texts get a safety "
        f"reply and {calibration.dev_check_false_positive_rate:.1%} of look-alikes get one (mostly the check-in).\n"
    )


def model_card(recipe: ScreenRecipe, config: ScreenConfig, calibration: Calibration, n_train: int) -> str:
    what = (
        "the risk of a user's messages (none / concern / crisis)"
        if recipe.kind == "risk"
        else "whether a generated reply is unsafe"
    )
    return f"""# {recipe.kind}-screen: a safety screen of emocause

Classifies {what} and its category ({", ".join(config.categories[1:])}).
{config.encoder.name} with LoRA r={config.encoder.lora_r} (frozen when -1) and two linear heads, reading the
screening form of the text (`emocause.resources.normalise`). Trained by `emocause train screen -c
{recipe.kind}-screen` (`scripts/train_safety.sh`) on {n_train} texts: the written families of
`resources/safety/` (see its data card) less a fifth held out, and EmpatheticDialogues texts as harmless.

## Intended use
A screen in front of and behind an automated empathetic listener, together with the rule layer
(`resources/safety.yaml`): a flagged message gets a fixed supportive reply with crisis lines (crisis) or a
check-in that offers help (concern) instead of model output; a flagged reply is replaced by a safe one.

## Not for
Clinical assessment, triage, diagnosis or any decision about a person. It is not a crisis service. It reads
English only, one message window at a time, and knows nothing of the person beyond the text.

## Operating point (development families, chosen after training)
- flag threshold {config.flag_threshold:.3f}: {calibration.dev_flag_recall:.1%} of {calibration.n_dev_flagged} risky
  development texts flagged, {calibration.dev_false_positive_rate:.1%} of {calibration.n_dev_harmless} harmless
  look-alikes flagged (target at most {recipe.max_dev_false_positive_rate:.0%}).
- severe-level threshold {config.top_threshold:.2f} ({calibration.dev_top_accuracy:.1%} of flagged texts at the right level).
{_check_line(calibration)}

## Measured limits
On held-out sets written by another author, with the rules, in `benchmarks/results/safety.json`
(`emocause bench safety`) and docs/service.md. It misses indirect wording it has not seen and flags some
harmless text that shares its words; the written sets are not real crisis messages.
"""
