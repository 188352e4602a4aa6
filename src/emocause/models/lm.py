"""A causal language model (any by hub id or folder; SmolLM2-135M-Instruct offline) with optional LoRA adapters,
trained on responses only and decoding in batches.

Sequences are left-padded everywhere, training included: every row then ends at the same position, so the
response tokens sit in the last columns and the LM head (a 49k-word matmul) runs on those columns only.
Position ids are derived from the attention mask so padding does not shift them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch
from peft import LoraConfig, PeftModel
from torch import nn

from emocause.errors import ModelError
from emocause.models.encoder import wrap_lora
from emocause.models.resolver import DEFAULT_LM, load_causal_lm

INFERENCE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass
class LMConfig:
    """Which LM and how it is adapted: `lora_r` 0 fine-tunes every weight (large to save), -1 freezes it.

    `lora_targets` empty means peft's default modules for the architecture (q/v projections for Llama,
    c_attn for GPT-2). `lora_layers` N > 0 adapts only the top N layers: back-propagation then stops at the
    lowest adapted layer, which roughly halves CPU training time for a third of the layers.
    """

    name: str = DEFAULT_LM
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: list[str] = field(default_factory=list)
    lora_layers: int = 0
    max_prompt_tokens: int = 256
    """Prompts longer than this lose their oldest turns first."""
    max_response_tokens: int = 64
    """Training targets are cut to this many tokens (the end-of-turn token included)."""


@dataclass
class DecodingConfig:
    max_new_tokens: int = 40
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    no_repeat_ngram_size: int = 3
    max_seconds: float | None = None
    """Wall-clock bound of one generation call (a service's guarantee); None: bounded by tokens only."""


@dataclass
class LMBatch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None = None
    """Same shape as `input_ids`; -100 except on target tokens."""
    n_target_columns: int = 0
    """How many last columns hold any target token (the LM head runs on these and one before)."""


class TokenGenerator(Protocol):
    """An inference engine that decodes from prompt ids (llama.cpp: `emocause.models.llamacpp`)."""

    def generate(
        self, prompts: Sequence[Sequence[int]], decoding: DecodingConfig, eos_id: int
    ) -> list[list[int]]: ...


class AdaptedLM(nn.Module):
    def __init__(self, config: LMConfig):
        super().__init__()
        self.config = config
        model: nn.Module
        model, self.tokenizer = load_causal_lm(config.name)
        self.n_layers: int = model.config.num_hidden_layers
        if config.lora_r > 0:
            extra = {}
            if config.lora_layers > 0:
                if config.lora_layers > self.n_layers:
                    raise ModelError(f"lora_layers {config.lora_layers} > the model's {self.n_layers} layers")
                extra["layers_to_transform"] = list(range(self.n_layers - config.lora_layers, self.n_layers))
            lora = LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=config.lora_targets or None,
                task_type="CAUSAL_LM",
                **extra,  # type: ignore[arg-type]
            )
            model = wrap_lora(model, lora)
        elif config.lora_r < 0:
            model.requires_grad_(False)
        self.model: nn.Module = model
        self.engine: TokenGenerator | None = None
        """When set, `generate` decodes with it instead of transformers."""

    def merge_adapters(self, dtype: str = "float32") -> None:
        """Fold the LoRA adapters into the base weights for inference (about 1.4x faster generation on CPU) and
        cast to `dtype` (bfloat16 is another 1.25x on CPUs with AVX512-BF16); the model can no longer be
        trained or saved as adapters afterwards."""
        if dtype not in INFERENCE_DTYPES:
            raise ModelError(f"dtype {dtype!r}: expected one of {sorted(INFERENCE_DTYPES)}")
        if isinstance(self.model, PeftModel):
            self.model = self.model.merge_and_unload()
            self.config.lora_r = -1
        self.model.requires_grad_(False)
        self.model.to(INFERENCE_DTYPES[dtype])

    @property
    def eos_id(self) -> int:
        return int(self.tokenizer.eos_token_id)

    def batch(
        self, prompts: Sequence[Sequence[int]], targets: Sequence[Sequence[int]] | None = None
    ) -> LMBatch:
        """Left-padded prompt (+ target) ids; with targets, labels mark the target tokens only."""
        targets = targets if targets is not None else [[] for _ in prompts]
        rows = [list(p) + list(t) for p, t in zip(prompts, targets, strict=True)]
        width = max(len(r) for r in rows)
        pad = int(self.tokenizer.pad_token_id)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, (row, target) in enumerate(zip(rows, targets, strict=True)):
            input_ids[i, width - len(row) :] = torch.tensor(row)
            attention_mask[i, width - len(row) :] = 1
            if target:
                labels[i, width - len(target) :] = torch.tensor(list(target))
        n_target = max((len(t) for t in targets), default=0)
        return LMBatch(input_ids, attention_mask, labels if n_target else None, n_target)

    def forward(self, batch: LMBatch) -> torch.Tensor:
        """Logits for the last `n_target_columns + 1` positions (all positions when there is no target)."""
        position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
        keep = batch.n_target_columns + 1 if batch.n_target_columns else 0
        output = self.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            position_ids=position_ids,
            logits_to_keep=keep,
            use_cache=False,
        )
        return output.logits  # type: ignore[no-any-return]

    def target_nll(self, batch: LMBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row summed negative log-likelihood of the target tokens, and per-row target token counts."""
        if batch.labels is None:
            raise ModelError("target_nll needs a batch built with targets")
        logits = self(batch)[:, :-1].float()
        labels = batch.labels[:, -batch.n_target_columns :]
        nll = nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
        counts = (labels != -100).sum(-1)
        return nll.sum(-1), counts

    @torch.no_grad()
    def generate(self, batch: LMBatch, decoding: DecodingConfig) -> list[list[int]]:
        """New token ids per row, stopped at the end-of-turn token (which is not returned)."""
        if self.engine is not None:
            prompts = [
                row[mask.bool()].tolist()
                for row, mask in zip(batch.input_ids, batch.attention_mask, strict=True)
            ]
            return self.engine.generate(prompts, decoding, self.eos_id)
        options: dict[str, object] = {
            "max_new_tokens": decoding.max_new_tokens,
            "do_sample": decoding.do_sample,
            "repetition_penalty": decoding.repetition_penalty,
            "no_repeat_ngram_size": decoding.no_repeat_ngram_size,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.eos_id,
        }
        if decoding.do_sample:
            options.update(temperature=decoding.temperature, top_p=decoding.top_p)
        if decoding.max_seconds is not None:
            options["max_time"] = decoding.max_seconds
        output = self.model.generate(  # type: ignore[operator]
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, **options
        )
        new = output[:, batch.input_ids.shape[1] :].tolist()
        return [row[: row.index(self.eos_id)] if self.eos_id in row else row for row in new]
