"""EC-DD seeds: ATOMIC triples whose head is the cause and whose tail is the emotion (xReact by default).

Sources: the ATOMIC-2020 sample under the data root (`atomic`), or a user file:
- `.tsv` in the sample's form (`head @@ relation<TAB>tail| tail| ...`) or the full release's
  (`head<TAB>relation<TAB>tail`), told apart by the first row;
- `.jsonl` with one `{"head", "tail", "relation"?}` object per line (relation defaults to xReact).
Every seed has a stable id from its (relation, head, tail), so reruns, resumes and shards agree on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emocause.data import load
from emocause.data.atomic import read_atomic_queries, read_atomic_triples
from emocause.data.io import check_file, iter_jsonl, utf8_lines
from emocause.data.schema import KnowledgeRecord
from emocause.errors import ConfigError, DataError

ATOMIC_SAMPLE = "atomic"
NO_INFERENCE = frozenset({"none", "nothing", "n/a", ""})
"""ATOMIC's marker for "no inference" in a tail."""


@dataclass(frozen=True)
class Seed:
    head: str
    """The cause seed, with ATOMIC's PersonX / PersonY placeholders."""
    relation: str
    tail: str
    """The emotion seed (for xReact, how PersonX feels)."""

    @property
    def id(self) -> str:
        key = f"{self.relation}\t{self.head.strip().lower()}\t{self.tail.strip().lower()}"
        return "ecdd-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass
class SeedList:
    seeds: list[Seed]
    skipped: dict[str, int]
    """Triples not turned into seeds, by reason (another relation, "none" tails, duplicates)."""


def parse_shard(text: str) -> tuple[int, int]:
    """`i/n` (1-based) -> (i, n)."""
    index, slash, count = text.partition("/")
    if not (slash and index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise ConfigError(f"shard {text!r}: expected i/n with 1 <= i <= n, for example 2/8")
    return int(index), int(count)


def in_shard(seed: Seed, shard: tuple[int, int]) -> bool:
    """Seeds split over n shards by a hash of their id: the same split on every machine, whatever the order."""
    index, count = shard
    return int(seed.id[5:], 16) % count == index - 1


def _from_records(records: Iterable[KnowledgeRecord], relations: set[str]) -> SeedList:
    seeds: dict[str, Seed] = {}
    skipped: dict[str, int] = {}

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for record in records:
        if record.relation not in relations:
            skip(f"relation {record.relation}")
            continue
        for tail in record.tails:
            if tail.strip().lower() in NO_INFERENCE:
                skip("no inference (none)")
                continue
            seed = Seed(record.head.strip(), record.relation, tail.strip())
            if seed.id in seeds:
                skip("duplicate")
                continue
            seeds[seed.id] = seed
    return SeedList(list(seeds.values()), skipped)


def _read_jsonl(path: Path) -> list[KnowledgeRecord]:
    records = []
    for line, record in iter_jsonl(path):
        if not (
            isinstance(record, dict)
            and isinstance(record.get("head"), str)
            and isinstance(record.get("tail"), str)
        ):
            raise DataError(
                path,
                "not a seed",
                where=f"line {line}",
                expected='{"head": text, "tail": text, "relation"?: text}',
            )
        relation = record.get("relation", "xReact")
        if not isinstance(relation, str):
            raise DataError(path, "relation is not text", where=f"line {line}")
        records.append(KnowledgeRecord(head=record["head"], relation=relation, tails=[record["tail"]]))
    return records


def read_seeds(
    source: str, relations: Iterable[str] = ("xReact",), data_root: str | Path | None = None
) -> SeedList:
    """Seeds from `atomic` (the sample under the data root) or a `.tsv` / `.jsonl` file."""
    wanted = set(relations)
    if source == ATOMIC_SAMPLE:
        return _from_records(load("atomic2020", "test", data_root).knowledge, wanted)
    path = Path(source).expanduser()
    check_file(path)
    if path.suffix == ".jsonl":
        return _from_records(_read_jsonl(path), wanted)
    if path.suffix == ".tsv":
        first = next((line for _, line in utf8_lines(path) if line.strip()), "")
        records = read_atomic_queries(path) if " @@ " in first else read_atomic_triples(path)
        return _from_records(records, wanted)
    raise DataError(
        path, "unknown seed file type", expected=f"'{ATOMIC_SAMPLE}', a .tsv (ATOMIC) or a .jsonl file"
    )
