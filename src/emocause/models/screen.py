"""A text screen: a (LoRA-adapted) encoder reads one text in its screening form (`resources.normalise`), mean-pools
it, and two linear heads give a level (for the risk screen none / concern / crisis; for the reply screen safe /
unsafe) and a category (suicide, self-harm, ...; insult, claim to be human, ...).

The first level is the harmless one. `flag_threshold` is the probability of "not the first level" at which a
text is flagged; among flagged texts, `top_threshold` is the probability of the last level (crisis, unsafe) from
which a text gets that level; `check_threshold`, below the flag threshold, gives uncertain texts the middle level
(concern). All are chosen on the development families after training (`training/screen.py`), so a shipped screen
states the operating point it was tuned to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from peft import PeftModel
from torch import nn

from emocause.errors import ModelError
from emocause.models.encoder import AdaptedEncoder, EncoderConfig, TrainedModel, mean_pool
from emocause.resources.normalise import screening_form


@dataclass
class ScreenConfig:
    levels: list[str]
    """Ordered from harmless to most severe."""
    categories: list[str]
    """What a flagged text is about; the first is the harmless category."""
    encoder: EncoderConfig = field(
        default_factory=lambda: EncoderConfig(max_length=96, lora_r=8, lora_alpha=16)
    )
    dropout: float = 0.1
    flag_threshold: float = 0.5
    top_threshold: float = 0.5
    check_threshold: float | None = None
    """With three or more levels: a text flagged with at least this probability but under `flag_threshold` gets
    the middle level (concern: a check-in), so uncertain risk is asked about rather than let through."""


@dataclass
class ScreenScore:
    level: str
    category: str
    flag_probability: float
    """Probability of any level but the first."""
    top_probability: float
    """Probability of the most severe level."""


class ScreenClassifier(TrainedModel):
    METHOD = "screen"
    CONFIG = ScreenConfig

    def __init__(self, config: ScreenConfig):
        super().__init__()
        if len(config.levels) < 2 or len(config.categories) < 2:
            raise ModelError("a screen needs at least two levels and two categories")
        self.config = config
        self.encoder = AdaptedEncoder(config.encoder)
        self.tokenizer = self.encoder.tokenizer
        self.dropout = nn.Dropout(config.dropout)
        self.level_head = nn.Linear(self.encoder.hidden_size, len(config.levels))
        self.category_head = nn.Linear(self.encoder.hidden_size, len(config.categories))

    def merge_for_inference(self) -> ScreenClassifier:
        """Fold the LoRA adapters into the encoder's weights (fewer matrix products per text); no more training."""
        if isinstance(self.encoder.model, PeftModel):
            self.encoder.model = self.encoder.model.merge_and_unload()
        self.eval()
        return self

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        if not texts:
            raise ModelError("no texts to screen")
        batch = self.tokenizer(
            [screening_form(t) for t in texts],
            truncation=True,
            max_length=self.config.encoder.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Level logits B x L and category logits B x C."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = self.dropout(mean_pool(hidden, attention_mask))
        return self.level_head(pooled), self.category_head(pooled)

    @torch.no_grad()
    def probabilities(self, texts: Sequence[str], batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """Level probabilities B x L and category probabilities B x C."""
        was_training = self.training
        self.eval()
        levels, categories = [], []
        for start in range(0, len(texts), batch_size):
            level_logits, category_logits = self(**self.encode(texts[start : start + batch_size]))
            levels.append(level_logits.softmax(-1))
            categories.append(category_logits.softmax(-1))
        self.train(was_training)
        if not levels:
            return torch.empty(0, len(self.config.levels)), torch.empty(0, len(self.config.categories))
        return torch.cat(levels), torch.cat(categories)

    def score(self, texts: Sequence[str]) -> list[ScreenScore]:
        """Per text: its level at the calibrated thresholds, its most likely flagged category, the probabilities."""
        levels, categories = self.probabilities(texts)
        scores = []
        for level_row, category_row in zip(levels, categories, strict=True):
            flag = float(1 - level_row[0])
            top = float(level_row[-1])
            # flagged first; the severe level is then told apart among flagged texts, as it was calibrated
            check = self.config.check_threshold
            if flag < self.config.flag_threshold:
                uncertain = check is not None and flag >= check and len(level_row) > 2
                level = self.config.levels[1] if uncertain else self.config.levels[0]
            elif top >= self.config.top_threshold or len(level_row) == 2:
                level = self.config.levels[-1]
            else:
                level = self.config.levels[1 + int(level_row[1:-1].argmax())]
            category = (
                self.config.categories[1 + int(category_row[1:].argmax())]
                if level != self.config.levels[0]
                else self.config.categories[0]
            )
            scores.append(ScreenScore(level, category, flag, top))
        return scores
