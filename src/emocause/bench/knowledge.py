"""How close each offline knowledge source comes to COMET: held-out ATOMIC-2020 queries, scored against the
COMET-BART generations we hold for them (and against ATOMIC's own gold tails).

Queries: a seeded sample of the ATOMIC-2020 evaluation rows whose relation is one of IMAGINE's 11 and that
have COMET generations. Retrieval leaves the query's own head out of its index (otherwise it would read
COMET's answer back). Per query, each inference of the source is matched to its best reference:
- token F1: unigram F1 between the two lower-cased phrases (SQuAD-style bag of words), best reference;
- BERTScore F1 (MiniLM layer 6, no rescaling), best reference;
averaged over the source's inferences, then over queries; a query with no inference scores 0, and the share
of queries answered is its own row (coverage).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from emocause.bench.results import ResultRow, describe_device
from emocause.data import load
from emocause.metrics import bertscore
from emocause.models.knowledge import CachedKnowledge, RetrievalKnowledge, clean_inference, knowledge_source
from emocause.resources.commonsense import IF_THEN
from emocause.settings import cache_dir

TASK = "commonsense_knowledge"
SEED = 2024


def token_f1(a: str, b: str) -> float:
    x, y = Counter(a.split()), Counter(b.split())
    common = sum((x & y).values())
    if not common:
        return 0.0
    precision, recall = common / sum(x.values()), common / sum(y.values())
    return 2 * precision * recall / (precision + recall)


def _best_match_means(
    hypotheses: Sequence[list[str]], references: Sequence[list[str]]
) -> tuple[float, float]:
    """Mean over queries of the mean over hypotheses of the best reference: token F1 and BERTScore F1."""
    pairs = [(h, r) for hyps, refs in zip(hypotheses, references, strict=True) for h in hyps for r in refs]
    scores = bertscore([h for h, _ in pairs], [r for _, r in pairs]) if pairs else None
    per_pair_bert = iter(scores.per_pair_f1 if scores else [])
    token, bert = [], []
    for hyps, refs in zip(hypotheses, references, strict=True):
        if not hyps or not refs:
            token.append(0.0)
            bert.append(0.0)
            continue
        best_token, best_bert = [], []
        for h in hyps:
            best_token.append(max(token_f1(h, r) for r in refs))
            best_bert.append(max(next(per_pair_bert) for _ in refs))
        token.append(sum(best_token) / len(best_token))
        bert.append(sum(best_bert) / len(best_bert))
    return sum(token) / len(token), sum(bert) / len(bert)


def bench_knowledge(
    sources: Sequence[str], n: int = 200, data_root: str | Path | None = None
) -> list[ResultRow]:
    records = [
        r for r in load("atomic2020", "test", data_root).knowledge if r.relation in IF_THEN and r.generations
    ]
    random.Random(SEED).shuffle(records)
    queries = records[:n]
    comet = [[p for p in map(clean_inference, r.generations) if p][:5] for r in queries]
    gold = [[p for p in map(clean_inference, r.tails) if p] for r in queries]
    device = describe_device()
    rows = []
    for spec in sources:
        started = time.perf_counter()
        source = knowledge_source(spec, data_root)
        inferred: list[list[str]] = []
        if isinstance(source, RetrievalKnowledge):
            for r in queries:
                inferred.append(source.infer([r.head], [r.relation], exclude=[r.head])[0][r.relation])
        else:
            cached = CachedKnowledge(source, cache_dir() / "imagine" / "bench-knowledge.jsonl")
            for r in queries:
                inferred.append(cached.infer([r.head], [r.relation])[0][r.relation])
            cached.close()
        seconds = time.perf_counter() - started
        relations = len({r.relation for r in queries})
        note = f"{len(queries)} held-out ATOMIC-2020 queries over {relations} relations; source {source.name}"
        for reference_name, references in (("comet", comet), ("gold", gold)):
            token, bert = _best_match_means(inferred, references)
            rows += [
                ResultRow(TASK, "atomic2020", "test", len(queries), f"token_f1_vs_{reference_name}", token, spec,
                          device, seconds, notes=note,
                          definition=f"unigram F1 of each inference with its best {reference_name} reference, mean"),
                ResultRow(TASK, "atomic2020", "test", len(queries), f"bertscore_f1_vs_{reference_name}", bert, spec,
                          device, seconds, notes=note,
                          definition=f"BERTScore F1 (MiniLM L6, no rescale) with the best {reference_name} reference, mean"),
            ]  # fmt: skip
        answered = sum(1 for x in inferred if x) / len(inferred)
        rows.append(ResultRow(TASK, "atomic2020", "test", len(queries), "coverage", answered, spec, device, seconds,
                              notes=note, definition="share of queries with at least one inference"))  # fmt: skip
    return rows
