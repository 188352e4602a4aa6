"""The dataset registry: every corpus by name, with the files it needs and its loader."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emocause.data.schema import Dialogue, KnowledgeRecord
from emocause.errors import DataError
from emocause.settings import data_root


@dataclass
class LoadResult:
    """What a loader read, what it skipped and why, and problems worth a look that did not stop it."""

    dialogues: list[Dialogue] = field(default_factory=list)
    knowledge: list[KnowledgeRecord] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def problem(self, what: str) -> None:
        self.problems[what] += 1

    def __len__(self) -> int:
        return len(self.dialogues) + len(self.knowledge)


Loader = Callable[[Path, str], LoadResult]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    splits: tuple[str, ...]
    files: Callable[[str], list[str]]
    """Paths, relative to the data root, that a split needs."""
    loader: Loader
    available_offline: bool = True
    """False for corpora that the shared data root does not hold (tested on fixtures)."""
    expected: dict[str, int] = field(default_factory=dict)
    """Records per split that the distributed data holds (conversations, examples or queries)."""


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def dataset_names() -> list[str]:
    return list(_REGISTRY)


def get_spec(name: str) -> DatasetSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DataError(name, "unknown dataset", expected=f"one of {', '.join(_REGISTRY)}") from None


def load(name: str, split: str, root: str | Path | None = None) -> LoadResult:
    """Load one split of a registered dataset from the data root (see `emocause.settings.data_root`)."""
    spec = get_spec(name)
    if split not in spec.splits:
        raise DataError(name, f"unknown split {split!r}", expected=f"one of {', '.join(spec.splits)}")
    return spec.loader(data_root(root), split)


def load_dialogues(name: str, split: str, root: str | Path | None = None) -> list[Dialogue]:
    return load(name, split, root).dialogues
