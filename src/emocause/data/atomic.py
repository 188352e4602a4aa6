"""The ATOMIC-2020 evaluation sample and the COMET-BART generations for the same queries.

`atomic2020/system_eval_test.tsv`: `head @@ relation<TAB>tail1| tail2| ...`; the generations file is JSON
lines `{head, relation, tails, generations, greedy}`, joined on (head, relation). The full ATOMIC-2020
release (`head<TAB>relation<TAB>tail` rows) loads with `read_atomic_triples`.
"""

from __future__ import annotations

from pathlib import Path

from emocause.data.io import check_file, iter_jsonl, require, utf8_lines
from emocause.data.registry import DatasetSpec, LoadResult, register
from emocause.data.schema import KnowledgeRecord
from emocause.errors import DataError

FOLDER = "atomic2020"
QUERIES = f"{FOLDER}/system_eval_test.tsv"
GENERATIONS = f"{FOLDER}/comet_bart_generations.json"


def read_atomic_queries(path: Path) -> list[KnowledgeRecord]:
    """The sample's rows: `head @@ relation<TAB>tail| tail| ...`."""
    check_file(path)
    records = []
    for line, text in utf8_lines(path):
        if not text.strip():
            continue
        query, tab, tails = text.rstrip("\r\n").partition("\t")
        head, at, relation = query.partition(" @@ ")
        if not (tab and at and head and relation):
            raise DataError(
                path,
                "malformed row",
                where=f"line {line}",
                expected="'head @@ relation<TAB>tail| tail| ...'",
            )
        records.append(
            KnowledgeRecord(
                head=head, relation=relation, tails=[t.strip() for t in tails.split("|") if t.strip()]
            )
        )
    return records


def read_atomic_triples(path: Path) -> list[KnowledgeRecord]:
    """The full ATOMIC-2020 release (`train.tsv` etc.: head, relation, tail per row), grouped by query."""
    check_file(path)
    grouped: dict[tuple[str, str], KnowledgeRecord] = {}
    for line, text in utf8_lines(path):
        if not text.strip():
            continue
        fields = text.rstrip("\r\n").split("\t")
        if len(fields) != 3:
            raise DataError(
                path, f"{len(fields)} fields", where=f"line {line}", expected="head<TAB>relation<TAB>tail"
            )
        head, relation, tail = fields
        record = grouped.setdefault(
            (head, relation), KnowledgeRecord(head=head, relation=relation, tails=[], split=path.stem)
        )
        record.tails.append(tail)
    return list(grouped.values())


def load_atomic(root: Path, split: str) -> LoadResult:
    result = LoadResult()
    result.knowledge = read_atomic_queries(root / QUERIES)
    by_query = {(r.head, r.relation): r for r in result.knowledge}
    path = root / GENERATIONS
    for line, record in iter_jsonl(path):
        require(record, ("head", "relation", "generations"), path, f"line {line}")
        target = by_query.get((record["head"], record["relation"]))
        if target is None:
            result.problem("COMET generation for a query absent from the sample")
            continue
        target.generations = list(record["generations"])
        target.greedy = record.get("greedy")
    missing = sum(1 for r in result.knowledge if not r.generations)
    if missing:
        result.problem(f"{missing} queries without COMET generations")
    return result


register(
    DatasetSpec(
        name="atomic2020",
        description="ATOMIC-2020 evaluation sample (head, relation, tails) with COMET-BART generations",
        splits=("test",),
        files=lambda split: [QUERIES, GENERATIONS],
        loader=load_atomic,
        expected={"test": 5_000},
    )
)
