"""A pretrained encoder with optional LoRA adapters, and the saved-model format every trained head shares.

A trained model is a folder: `model.json` (method name, its config, label names) and `weights.safetensors`
holding only what training changed (LoRA adapters and heads; a few MB), so the base encoder is fetched by
name (a hub id, a local folder, or the bundled MiniLM offline) and never copied.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar, cast

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from torch import nn

from emocause.config import from_dict
from emocause.errors import ModelError
from emocause.models.resolver import DEFAULT_ENCODER, load_encoder

MODEL_CARD = "model.json"
WEIGHTS = "weights.safetensors"


@dataclass
class EncoderConfig:
    """Which encoder, and how it is adapted: `lora_r` 0 fine-tunes every weight (large to save), -1 freezes it."""

    name: str = DEFAULT_ENCODER
    max_length: int = 128
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_targets: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])


class AdaptedEncoder(nn.Module):
    """The encoder (LoRA-wrapped, fully trainable or frozen) and its tokenizer."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        model: nn.Module
        model, self.tokenizer = load_encoder(config.name)
        if config.lora_r > 0:
            lora = LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=config.lora_targets,
            )
            model = wrap_lora(model, lora)
        elif config.lora_r < 0:
            model.requires_grad_(False)
        self.model = model
        self.hidden_size: int = model.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any) -> Any:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra)


def wrap_lora(model: nn.Module, lora: LoraConfig) -> PeftModel:
    """`model` with LoRA adapters (peft), without the warnings peft raises that callers cannot act on
    (a deprecated transformers question; GPT-2's Conv1D layout, which peft handles itself)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated")
        warnings.filterwarnings("ignore", message="fan_in_fan_out is set to False")
        return cast(PeftModel, get_peft_model(model, lora))  # type: ignore[arg-type]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where mask is 1 (how all-MiniLM-L6-v2 was trained to pool)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters training changes (frozen base weights are left out), detached and contiguous."""
    names = {name for name, p in module.named_parameters() if p.requires_grad}
    return {k: v.detach().contiguous().clone() for k, v in module.state_dict().items() if k in names}


def save_model(
    folder: Path, method: str, config: Any, module: nn.Module, extra: dict[str, Any] | None = None
) -> Path:
    """Write `model.json` and the trainable weights; the card is written last so a half-written folder is not loadable."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file(trainable_state(module), str(folder / WEIGHTS))
    card = {"method": method, "config": asdict(config), **(extra or {})}
    (folder / MODEL_CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return folder


def read_card(folder: Path) -> dict[str, Any]:
    path = folder / MODEL_CARD
    if not path.is_file():
        raise ModelError(f"{folder} is not a trained emocause model: {MODEL_CARD} is missing")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelError(f"{path} is not valid JSON ({error})") from error
    if not isinstance(card, dict) or "method" not in card or "config" not in card:
        raise ModelError(f"{path} lacks 'method' or 'config'")
    return card


def load_weights(folder: Path, module: nn.Module) -> None:
    """Load saved trainable weights into a freshly built module; every saved and every trainable key must match."""
    path = folder / WEIGHTS
    if not path.is_file():
        raise ModelError(f"{path} is missing")
    try:
        state = load_file(str(path))
    except Exception as error:  # safetensors raises its own error types for damaged files
        raise ModelError(f"{path} is not a readable safetensors file ({error})") from error
    expected = {name for name, p in module.named_parameters() if p.requires_grad}
    own = module.state_dict()
    unknown = sorted(set(state) - set(own))
    absent = sorted(expected - set(state))
    if unknown or absent:
        raise ModelError(f"{path} does not fit this model: unknown {unknown[:3]}, missing {absent[:3]}")
    module.load_state_dict(state, strict=False)


Saved = TypeVar("Saved", bound="TrainedModel")


class TrainedModel(nn.Module):
    """A model saved in the shared format: subclasses name their method and config class."""

    METHOD: ClassVar[str]
    CONFIG: ClassVar[type]
    config: Any

    def save(self, folder: Path) -> Path:
        return save_model(folder, self.METHOD, self.config, self)

    @classmethod
    def load(cls, folder: Path) -> Self:
        card = read_card(folder)
        if card["method"] != cls.METHOD:
            raise ModelError(f"{folder} holds a {card['method']!r} model, not a {cls.METHOD!r} model")
        model = cls.build_saved(folder, from_dict(cls.CONFIG, card["config"], where=str(folder)))
        load_weights(folder, model)
        return model.eval()

    @classmethod
    def build_saved(cls, folder: Path, config: Any) -> Self:
        """The untrained model a saved folder's config describes; models that save more than weights and
        config (a vocabulary) read it here."""
        return cls(config)
