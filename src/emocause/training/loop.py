"""One training loop for every trained head: progress, checkpoints, resume after interruption, selection on validation.

A run folder holds `checkpoint/` (trainable weights, optimizer and scheduler state, position in the data;
replaced atomically every `checkpoint_every` steps and at each evaluation), `best/` (the saved model with the
best validation score so far) and `log.jsonl` (one line per evaluation). Killed at any moment, the run
continues from its last checkpoint with `resume`, seeing the same batches in the same order.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from safetensors.torch import load_file, save_file
from torch import nn

from emocause.errors import EmocauseError
from emocause.models.encoder import trainable_state

Example = TypeVar("Example")


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 2e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    warmup_steps: int = 0  # > 0 replaces warmup_ratio
    schedule: str = "linear"
    """linear: warm up, then decay linearly to 0 at the end; noam (Vaswani et al.): warm up to learning_rate,
    then decay with 1/sqrt(step), as the from-scratch dialogue models were trained."""
    max_grad_norm: float = 1.0
    max_train_examples: int = 0  # 0 = all; a cap makes CPU runs and tests short
    max_valid_examples: int = 0
    eval_every: int = 0  # steps between validations; 0 = at the end of each epoch
    checkpoint_every: int = 200
    patience: int = 0  # validations without improvement before stopping; 0 = never stop early
    group_by_length: bool = False
    """Batch examples of similar length (the task's `length`) so padding wastes little; batch order stays random."""
    seed: int = 13


class Trainable(Protocol):
    """What a method gives the loop: its module, batching, a loss, a validation score and a saver."""

    @property
    def module(self) -> nn.Module: ...

    def collate(self, examples: Sequence[Any]) -> Any: ...

    def loss(self, batch: Any) -> tuple[torch.Tensor, dict[str, float]]: ...

    def validate(self, examples: Sequence[Any]) -> dict[str, float]:
        """Metrics on the validation examples; `score` (higher is better) selects the best checkpoint."""
        ...

    def save(self, folder: Path) -> None: ...


class LengthAware(Protocol):
    """A task that can say how long an example is (any unit that orders examples by padded size)."""

    def length(self, example: Any) -> int: ...


# Examples are sorted by length within pools of this many batches, then the batches are shuffled.
LENGTH_POOL_BATCHES = 50


def epoch_batches(n: int, lengths: Sequence[int] | None, batch_size: int, seed: int) -> list[list[int]]:
    """The batches (example indices) of one epoch in training order: a shuffle cut into batches, or with
    `lengths`, shuffled pools sorted by length and cut into batches, the batches then shuffled. Deterministic
    in `seed`, so a resumed run sees the same batches."""
    rng = random.Random(seed)
    order = list(range(n))
    rng.shuffle(order)
    if lengths is None:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    pool = batch_size * LENGTH_POOL_BATCHES
    batches = []
    for start in range(0, n, pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class _Progress:
    step: int = 0
    best_score: float = -math.inf
    best_metrics: dict[str, float] = field(default_factory=dict)
    stale: int = 0
    seconds: float = 0.0


@dataclass
class FitResult:
    best_score: float
    best_metrics: dict[str, float]
    steps: int
    seconds: float
    best_folder: Path


def learning_rate_factor(schedule: str, warmup: int, total: int) -> Callable[[int], float]:
    """The multiplier of the peak learning rate at step s (0-based)."""
    warmup = max(warmup, 1)
    if schedule == "linear":
        return lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(total - warmup, 1)))
    if schedule == "noam":
        return lambda s: min((s + 1) / warmup, math.sqrt(warmup / (s + 1)))
    raise EmocauseError(f"schedule must be linear or noam, not {schedule!r}")


def subset(examples: Sequence[Example], cap: int, seed: int) -> list[Example]:
    items = list(examples)
    if 0 < cap < len(items):
        items = random.Random(seed).sample(items, cap)
    return items


def sampled(examples: Sequence[Example], config: TrainConfig, role: str) -> list[Example]:
    """The examples `fit` uses for `role` ("train" or "valid"): the config's cap, drawn with its seed. Callers
    that prepare inputs per example (cached features) call this to prepare only those."""
    if role == "train":
        return subset(examples, config.max_train_examples, config.seed)
    return subset(examples, config.max_valid_examples, config.seed + 1)


def fit(
    task: Trainable,
    train: Sequence[Example],
    valid: Sequence[Example],
    config: TrainConfig,
    run_dir: Path,
    *,
    resume: bool = False,
) -> FitResult:
    """Train `task.module` on `train`, validating on `valid`; the best model ends in `run_dir/best`."""
    train = sampled(train, config, "train")
    valid = sampled(valid, config, "valid")
    if not train or not valid:
        raise EmocauseError(f"training needs examples: {len(train)} train, {len(valid)} valid")
    checkpoint = run_dir / "checkpoint"
    previous = checkpoint.with_name(checkpoint.name + ".old")
    if not checkpoint.exists() and previous.exists():  # killed between the two renames of a checkpoint save
        previous.rename(checkpoint)
    if checkpoint.exists() and not resume:
        raise EmocauseError(f"{run_dir} already holds a run; resume it or choose another folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    module = task.module
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = config.warmup_steps or int(total * config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor(config.schedule, warmup, total))
    state = _Progress()
    if resume and checkpoint.exists():
        state = _load_checkpoint(checkpoint, module, optimizer, scheduler)
    eval_every = config.eval_every or steps_per_epoch
    lengths = None
    if config.group_by_length:
        if not callable(getattr(task, "length", None)):
            raise EmocauseError(f"{type(task).__name__} cannot group by length: it has no length(example)")
        lengths = [cast(LengthAware, task).length(x) for x in train]
    started = time.perf_counter() - state.seconds

    def evaluate() -> bool:
        """Validate, keep the best, log; True when patience has run out."""
        module.eval()
        with torch.no_grad():
            metrics = task.validate(valid)
        module.train()
        improved = metrics["score"] > state.best_score
        if improved:
            state.best_score, state.best_metrics, state.stale = metrics["score"], metrics, 0
            best = run_dir / "best"
            staging = run_dir / "best.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            task.save(staging)
            shutil.rmtree(best, ignore_errors=True)
            staging.rename(best)
        else:
            state.stale += 1
        line = {
            "step": state.step,
            "epoch": state.step / steps_per_epoch,
            **metrics,
            "best": improved,
        }
        with (run_dir / "log.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        return bool(config.patience) and state.stale >= config.patience

    module.train()
    stop = False
    batches: list[list[int]] = []
    batches_epoch = -1
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, transient=False) as progress:
        bar = progress.add_task("training", total=total, completed=state.step, info="")
        while state.step < total and not stop:
            step = state.step
            epoch, position = divmod(step, steps_per_epoch)
            if epoch != batches_epoch:
                batches = epoch_batches(len(train), lengths, config.batch_size, config.seed * 1000 + epoch)
                batches_epoch = epoch
            indices = batches[position]
            loss, parts = task.loss(task.collate([train[i] for i in indices]))
            if not torch.isfinite(loss):
                raise EmocauseError(f"loss became {loss.item()} at step {step}; lower the learning rate")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            state.step = step + 1
            info = " ".join(f"{k} {v:.3f}" for k, v in {"loss": loss.item(), **parts}.items())
            progress.update(bar, advance=1, info=info)
            if state.step % eval_every == 0 or state.step == total:
                stop = evaluate()
            if state.step % config.checkpoint_every == 0 or stop or state.step == total:
                state.seconds = time.perf_counter() - started
                _save_checkpoint(checkpoint, module, optimizer, scheduler, state, config)
                # A log file gets one line per checkpoint instead of a bar.
                if not progress.console.is_terminal:
                    progress.console.print(f"step {state.step}/{total} {info}")
    return FitResult(
        state.best_score,
        state.best_metrics,
        state.step,
        time.perf_counter() - started,
        run_dir / "best",
    )


def _save_checkpoint(
    folder: Path,
    module: nn.Module,
    optimizer: Any,
    scheduler: Any,
    state: _Progress,
    config: TrainConfig,
) -> None:
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save_file(trainable_state(module), str(staging / "weights.safetensors"))
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, staging / "optimizer.pt"
    )
    (staging / "progress.json").write_text(
        json.dumps({**asdict(state), "config": asdict(config)}, indent=2), encoding="utf-8"
    )
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _load_checkpoint(folder: Path, module: nn.Module, optimizer: Any, scheduler: Any) -> _Progress:
    try:
        state = json.loads((folder / "progress.json").read_text(encoding="utf-8"))
        module.load_state_dict(load_file(str(folder / "weights.safetensors")), strict=False)
        # weights_only: the optimizer state is tensors and numbers; nothing else may be unpickled.
        saved = torch.load(folder / "optimizer.pt", weights_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise EmocauseError(f"cannot resume from {folder}: {error}") from error
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    state.pop("config", None)
    return _Progress(**state)
