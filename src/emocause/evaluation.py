"""Score a file of predictions against a dataset split, one task at a time.

Predictions are JSON lines. Every line names the dialogue (`id`) and, for turn-level tasks, the turn
(`turn`, 0-based). Task by task:

- `emotion`: `{"id", ["turn"], "emotion"}` or a ranked `"emotions": [...]` (best first). Gold: the turn's
  emotion if `turn` is given, else the dialogue's.
- `response`: `{"id", ["turn"], "response", ["nll_sum", "n_tokens", "level"]}`. Reference: the given
  turn's text, for every listener turn after the first turn (without `turn`: the dialogue's last turn). With `nll_sum`/`n_tokens` on every line, token-weighted perplexity too.
- `cause_utterances` (RECCON causal emotion entailment): `{"id", "turn", "causes": [turn, ...]}` for each
  emotional (non-neutral) turn with cause evidence; every earlier-or-same turn is a candidate pair.
- `cause_spans`: `{"id", "turn", "cause_turn", "span"}` for each (emotional turn, evidence turn) pair
  that has a gold span.
- `cause_words`: `{"id", ["turn"], "ranked_words": [...]}`; gold = the words of the turn's cause spans.
- `empathy_causes`: `{"id", "scores": [...], ["labels": [...]]}`, one score per post sentence; gold =
  the post's `sentence_labels`. Labels default to score >= 0.5.

A prediction for an unknown example, a duplicate, or a malformed line is an error naming the line;
gold examples without a prediction are an error unless partial scoring is allowed, and then counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emocause.bench.results import ResultRow, describe_device
from emocause.data import load
from emocause.data.io import iter_jsonl
from emocause.data.schema import Dialogue
from emocause.errors import DataError, EmocauseError
from emocause.metrics import (
    bertscore,
    binary_classification,
    cause_recall_at_k,
    corpus_bleu,
    distinct,
    emotion_classification,
    emotion_recall_at_k,
    perplexity,
    reccon_entailment,
    rouge,
    simple_tokenize,
    span_extraction,
)
from emocause.resources.taxonomies import ECC, ED, EKMAN, ESCONV

TAXONOMY_OF = {
    "empathetic_dialogues": ED, "emocause": ED, "ecc": ECC, "ecc_examples": ECC,
    "reccon": EKMAN, "reccon_comet": EKMAN, "dailydialog": EKMAN, "esconv": ESCONV,
}  # fmt: skip

Key = tuple[str, int | None]
Predictions = list[tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class _Context:
    source: str
    dataset: str
    with_bertscore: bool = False


@dataclass
class Score:
    metric: str
    value: float
    n: int
    definition: str


@dataclass
class Evaluation:
    task: str
    dataset: str
    split: str
    scores: list[Score]
    missing: int
    seconds: float

    def rows(self, model: str, notes: str = "") -> list[ResultRow]:
        partial = f"{self.missing} gold examples had no prediction" if self.missing else ""
        return [
            ResultRow(
                self.task,
                self.dataset,
                self.split,
                s.n,
                s.metric,
                s.value,
                model,
                describe_device(),
                self.seconds,
                notes="; ".join(x for x in (notes, partial) if x),
                definition=s.definition,
            )
            for s in self.scores
        ]


def read_predictions(path: Path) -> Predictions:
    lines = list(iter_jsonl(path))
    for line, record in lines:
        if not isinstance(record, dict) or "id" not in record:
            raise DataError(
                path, "prediction without an 'id'", where=f"line {line}", expected='{"id": ..., ...}'
            )
    return lines


class _Matcher:
    """Pairs each prediction with its gold example by (id, turn); reports unknown, duplicate and missing ones."""

    def __init__(
        self,
        gold: dict[Key, Any],
        predictions: Iterable[tuple[int, dict[str, Any]]],
        source: str,
        turn_level: bool,
    ):
        self.pairs: list[tuple[Any, dict[str, Any]]] = []
        seen: set[Key] = set()
        for line, record in predictions:
            key: Key = (str(record["id"]), record.get("turn") if turn_level else None)
            if key not in gold:
                raise DataError(
                    source,
                    f"prediction for unknown example {key[0]!r}"
                    + (f" turn {key[1]}" if key[1] is not None else ""),
                    where=f"line {line}",
                )
            if key in seen:
                raise DataError(source, f"second prediction for {key}", where=f"line {line}")
            seen.add(key)
            self.pairs.append((gold[key], record))
        self.missing = len(gold) - len(seen)


def _field(record: dict[str, Any], name: str, kind: type | tuple[type, ...], source: str) -> Any:
    value = record.get(name)
    if not isinstance(value, kind):
        raise DataError(
            source,
            f"prediction {record.get('id')!r} needs '{name}' of type {getattr(kind, '__name__', kind)}, got {value!r}",
        )
    return value


def _emotion(dialogues: list[Dialogue], predictions: Predictions, ctx: _Context) -> tuple[list[Score], int]:
    source = ctx.source
    if ctx.dataset not in TAXONOMY_OF:
        raise EmocauseError(f"no emotion taxonomy known for {ctx.dataset!r}")
    taxonomy = TAXONOMY_OF[ctx.dataset]
    turn_level = any("turn" in r for _, r in predictions)
    gold: dict[Key, Any]
    if turn_level:
        gold = {(d.id, i): t.emotion for d in dialogues for i, t in enumerate(d.turns) if t.emotion}
    else:
        gold = {(d.id, None): d.emotion for d in dialogues if d.emotion}
    matched = _Matcher(gold, predictions, source, turn_level)
    ranked = [
        [r["emotion"]] if "emotion" in r else _field(r, "emotions", list, source) for _, r in matched.pairs
    ]
    for ranking in ranked:
        for label in ranking:
            if taxonomy.normalize(str(label)) is None:
                raise DataError(
                    source,
                    f"predicted label {label!r} is not in {taxonomy.name}",
                    expected=f"one of {list(taxonomy.labels)}",
                )
    ranked = [[taxonomy.normalize(str(label)) for label in ranking] for ranking in ranked]
    golds = [g for g, _ in matched.pairs]
    result = emotion_classification(golds, [r[0] for r in ranked], taxonomy.labels)
    n = result.n_examples
    scores = [
        Score("accuracy", result.accuracy, n, "share of examples whose top emotion equals the gold one"),
        Score("macro_f1", result.macro_f1, n, f"mean F1 over all {len(taxonomy)} {taxonomy.name} classes"),
    ]
    for k in (3, 5):
        if all(len(r) >= k for r in ranked):
            top_k = emotion_recall_at_k([{g} for g in golds], ranked, k).fraction
            scores.append(
                Score(
                    f"top{k}_accuracy", top_k, n, f"share of examples whose gold emotion is among the top {k}"
                )
            )
    return scores, matched.missing


def _response(dialogues: list[Dialogue], predictions: Predictions, ctx: _Context) -> tuple[list[Score], int]:
    source = ctx.source
    turn_level = any("turn" in r for _, r in predictions)
    gold: dict[Key, Any]
    if turn_level:
        gold = {
            (d.id, i): t.text
            for d in dialogues
            for i, t in enumerate(d.turns)
            if i > 0 and t.role == "listener"
        }
    else:
        gold = {(d.id, None): d.turns[-1].text for d in dialogues}
    matched = _Matcher(gold, predictions, source, turn_level)
    references = [g for g, _ in matched.pairs]
    hypotheses = [_field(r, "response", str, source) for _, r in matched.pairs]
    n = len(hypotheses)
    bleu = corpus_bleu(hypotheses, references)
    rouge_scores = rouge(hypotheses, references)
    diversity = distinct([simple_tokenize(h) for h in hypotheses])
    scores = [
        *(Score(f"bleu_{i}", v / 100, n, f"corpus BLEU-{i}, individual {i}-gram precision x brevity penalty, sacrebleu 13a, exp smoothing")
          for i, v in enumerate((bleu.bleu1, bleu.bleu2, bleu.bleu3, bleu.bleu4), start=1)),
        Score("rouge_1", rouge_scores.rouge1_f1, n, "mean ROUGE-1 F1 (rouge-score, Porter stemming)"),
        Score("rouge_l", rouge_scores.rougeL_f1, n, "mean ROUGE-L F1 (rouge-score, Porter stemming)"),
        Score("distinct_1", diversity.corpus_1, n, "corpus Distinct-1 x100, simple_tokenize"),
        Score("distinct_2", diversity.corpus_2, n, "corpus Distinct-2 x100, simple_tokenize"),
    ]  # fmt: skip
    if ctx.with_bertscore:
        bs = bertscore(hypotheses, references)
        scores += [Score(f"bertscore_{x}", getattr(bs, name), n, f"mean BERTScore {name}, {bs.model} layer {bs.num_layers}, no rescaling")
                   for x, name in (("p", "precision"), ("r", "recall"), ("f", "f1"))]  # fmt: skip
    if all("nll_sum" in r and "n_tokens" in r for _, r in matched.pairs):
        level = {r.get("level", "subword") for _, r in matched.pairs}
        if len(level) != 1:
            raise DataError(
                source, f"mixed perplexity levels {sorted(level)}", expected="one 'level' for all lines"
            )
        nll = sum(float(r["nll_sum"]) for _, r in matched.pairs)
        tokens = sum(int(r["n_tokens"]) for _, r in matched.pairs)
        scores.append(
            Score(
                f"perplexity_{level.pop()}",
                perplexity(nll, tokens),
                n,
                f"exp(total NLL / {tokens} target tokens)",
            )
        )
    return scores, matched.missing


def _cause_utterances(
    dialogues: list[Dialogue], predictions: Predictions, ctx: _Context
) -> tuple[list[Score], int]:
    source = ctx.source
    gold: dict[Key, Any] = {
        (d.id, i): (i, set(t.cause_turns))
        for d in dialogues
        for i, t in enumerate(d.turns)
        if t.emotion not in (None, "neutral") and t.cause_turns
    }
    matched = _Matcher(gold, predictions, source, turn_level=True)
    labels: list[int] = []
    predicted: list[int] = []
    for (target, causes), record in matched.pairs:
        chosen = set(_field(record, "causes", list, source))
        for candidate in range(target + 1):
            labels.append(int(candidate in causes))
            predicted.append(int(candidate in chosen))
    result = reccon_entailment(labels, predicted)
    n = result.n_examples
    definition = "over (target, candidate) pairs, every candidate up to and including the target"
    return [
        Score("pos_f1", result.positive_f1, n, f"F1 of the cause class {definition}"),
        Score("neg_f1", result.negative_f1, n, f"F1 of the non-cause class {definition}"),
        Score("macro_f1", result.macro_f1, n, "mean of pos_f1 and neg_f1 (RECCON)"),
    ], matched.missing


def _cause_spans(
    dialogues: list[Dialogue], predictions: Predictions, ctx: _Context
) -> tuple[list[Score], int]:
    source = ctx.source
    gold: dict[Key, list[str]] = {}
    for d in dialogues:
        for i, t in enumerate(d.turns):
            for span in t.cause_spans:
                gold.setdefault((f"{d.id}|{i}", span.turn), []).append(span.text)
    rekeyed = [
        (line, {**r, "id": f"{r['id']}|{r.get('turn')}", "turn": r.get("cause_turn")})
        for line, r in predictions
    ]
    matched = _Matcher(gold, rekeyed, source, turn_level=True)
    result = span_extraction(
        [_field(r, "span", str, source) for _, r in matched.pairs], [g for g, _ in matched.pairs]
    )
    n = result.n_examples
    return [
        Score("exact_match", result.exact_match, n, "SQuAD-normalised exact match, max over gold spans"),
        Score("span_f1", result.f1, n, "SQuAD-normalised token F1, max over gold spans"),
    ], matched.missing


def _cause_words(
    dialogues: list[Dialogue], predictions: Predictions, ctx: _Context
) -> tuple[list[Score], int]:
    source = ctx.source
    turn_level = any("turn" in r for _, r in predictions)
    gold: dict[Key, list[str]] = {}
    for d in dialogues:
        for i, t in enumerate(d.turns):
            words = [w for span in t.cause_spans for w in span.text.split()]
            if words:
                gold[(d.id, i if turn_level else None)] = words
    matched = _Matcher(gold, predictions, source, turn_level)
    golds = [g for g, _ in matched.pairs]
    ranked = [[str(w) for w in _field(r, "ranked_words", list, source)] for _, r in matched.pairs]
    return [
        Score(
            f"top{k}_recall",
            cause_recall_at_k(golds, ranked, k),
            len(golds),
            f"mean share of gold cause words among the top {k} ranked words",
        )
        for k in (1, 3, 5)
    ], matched.missing


def _empathy_causes(
    dialogues: list[Dialogue], predictions: Predictions, ctx: _Context
) -> tuple[list[Score], int]:
    source = ctx.source
    gold: dict[Key, Any] = {
        (d.id, None): d.turns[0].meta["sentence_labels"]
        for d in dialogues
        if "sentence_labels" in d.turns[0].meta
    }
    matched = _Matcher(gold, predictions, source, turn_level=False)
    labels: list[int] = []
    scores_: list[float] = []
    predicted: list[int] = []
    for sentence_labels, record in matched.pairs:
        scores = [float(s) for s in _field(record, "scores", list, source)]
        chosen = record.get("labels") or [int(s >= 0.5) for s in scores]
        if not len(scores) == len(chosen) == len(sentence_labels):
            raise DataError(
                source,
                f"prediction {record['id']!r} scores {len(scores)} sentences",
                expected=f"{len(sentence_labels)}, one per post sentence",
            )
        labels += sentence_labels
        scores_ += scores
        predicted += [int(c) for c in chosen]
    result = binary_classification(labels, predicted, scores_)
    n = result.n_examples
    out = [
        Score(name, getattr(result, name), n, f"{name} of the cause-sentence class over all post sentences")
        for name in ("precision", "recall", "f1", "accuracy")
    ]
    if result.roc_auc is not None:
        out.append(Score("roc_auc", result.roc_auc, n, "ROC-AUC of the sentence scores"))
    return out, matched.missing


TASKS: dict[str, Callable[[list[Dialogue], Predictions, _Context], tuple[list[Score], int]]] = {
    "emotion": _emotion,
    "response": _response,
    "cause_utterances": _cause_utterances,
    "cause_spans": _cause_spans,
    "cause_words": _cause_words,
    "empathy_causes": _empathy_causes,
}


def evaluate_predictions(
    task: str,
    predictions: Predictions,
    dataset: str,
    split: str,
    *,
    source: str = "predictions",
    data_root: str | Path | None = None,
    allow_partial: bool = False,
    with_bertscore: bool = False,
) -> Evaluation:
    """Score (line, record) predictions; see the module docstring for each task's fields."""
    if task not in TASKS:
        raise EmocauseError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    if not predictions:
        raise DataError(source, "no predictions")
    start = time.perf_counter()
    dialogues = load(dataset, split, data_root).dialogues
    scores, missing = TASKS[task](dialogues, predictions, _Context(source, dataset, with_bertscore))
    if missing and not allow_partial:
        raise DataError(
            source,
            f"{missing} gold examples of {dataset} {split} have no prediction",
            expected="one per example, or allow partial scoring",
        )
    return Evaluation(task, dataset, split, scores, missing, time.perf_counter() - start)


def evaluate_file(task: str, path: Path, dataset: str, split: str, **options: Any) -> Evaluation:
    return evaluate_predictions(task, read_predictions(path), dataset, split, source=str(path), **options)
