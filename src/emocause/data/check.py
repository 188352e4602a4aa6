"""`emocause data check`: which datasets are present, their sizes per split, and problems found."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from emocause.data.registry import DatasetSpec, dataset_names, get_spec
from emocause.errors import DataError


@dataclass
class SplitReport:
    dataset: str
    split: str
    status: str
    """"ok", "missing" (files absent), "not offline" (a corpus we do not hold) or "error" (failed to load)."""
    records: int = 0
    turns: int = 0
    cause_labels: int = 0
    expected: int | None = None
    missing_files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def size_matches(self) -> bool | None:
        return None if self.expected is None or self.status != "ok" else self.records == self.expected


def _check_split(spec: DatasetSpec, split: str, root: Path) -> SplitReport:
    report = SplitReport(spec.name, split, "ok", expected=spec.expected.get(split))
    report.missing_files = [f for f in spec.files(split) if not (root / f).is_file()]
    if report.missing_files:
        report.status = "missing" if spec.available_offline else "not offline"
        return report
    try:
        result = spec.loader(root, split)
    except DataError as exc:
        report.status = "error"
        report.notes.append(str(exc))
        return report
    report.records = len(result)
    report.turns = sum(len(d.turns) for d in result.dialogues)
    report.cause_labels = sum(d.n_cause_labels for d in result.dialogues)
    report.notes += [f"skipped {n}: {why}" for why, n in result.skipped.items()]
    report.notes += [f"{n} x {what}" if n > 1 else what for what, n in result.problems.items()]
    if report.size_matches is False:
        report.notes.append(f"expected {report.expected} records, found {report.records}")
    return report


def check_datasets(root: Path, names: list[str] | None = None) -> Iterator[SplitReport]:
    """Check every split of the named datasets (all registered ones by default), one report at a time."""
    for name in names or dataset_names():
        spec = get_spec(name)
        for split in spec.splits:
            yield _check_split(spec, split, root)


def n_checks(names: list[str] | None = None) -> int:
    return sum(len(get_spec(n).splits) for n in names or dataset_names())
