"""The dataset registry: every corpus by name, with the files it needs and its loader."""

from __future__ import annotations

import hashlib
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


_FILE_FORMATS: dict[str, tuple[str, Callable[[Path], LoadResult]]] = {}
FILE_SPLITS = ("all", "train", "valid", "test")


def register_file_format(suffix: str, description: str, reader: Callable[[Path], LoadResult]) -> None:
    """Let a file with this suffix stand for a dataset name (for example an EC-DD output in ECC JSONL)."""
    _FILE_FORMATS[suffix] = (description, reader)


def file_split(record_id: str) -> str:
    """A record's split inside a single file: a fixed hash of its id, 80 % train, 10 % valid, 10 % test,
    so a file that grows (a resumed generation run) never moves a record from one split to another."""
    bucket = int(hashlib.sha256(record_id.encode("utf-8")).hexdigest()[:8], 16) % 10
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def _file_spec(path: Path) -> DatasetSpec:
    description, reader = _FILE_FORMATS[path.suffix]

    def loader(_root: Path, split: str) -> LoadResult:
        result = reader(path)
        if split != "all":
            result.dialogues = [d for d in result.dialogues if file_split(d.id) == split]
        for dialogue in result.dialogues:
            dialogue.split = split
        return result

    return DatasetSpec(
        name=str(path), description=description, splits=FILE_SPLITS, files=lambda _: [str(path)], loader=loader
    )


def get_spec(name: str) -> DatasetSpec:
    """A registered dataset, or a file in a registered format (its splits: all, and train/valid/test by
    `file_split`)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    path = Path(name).expanduser()
    if path.suffix in _FILE_FORMATS:
        if not path.is_file():
            raise DataError(path, "file not found", expected=f"a {_FILE_FORMATS[path.suffix][0]} file")
        return _file_spec(path.resolve())
    formats = ", ".join(f"a {description} file (*{suffix})" for suffix, (description, _) in _FILE_FORMATS.items())
    raise DataError(name, "unknown dataset", expected=f"one of {', '.join(_REGISTRY)}, or {formats}")


def load(name: str, split: str, root: str | Path | None = None) -> LoadResult:
    """Load one split of a registered dataset from the data root (see `emocause.settings.data_root`)."""
    spec = get_spec(name)
    if split not in spec.splits:
        raise DataError(name, f"unknown split {split!r}", expected=f"one of {', '.join(spec.splits)}")
    return spec.loader(data_root(root), split)


def load_dialogues(name: str, split: str, root: str | Path | None = None) -> list[Dialogue]:
    return load(name, split, root).dialogues
