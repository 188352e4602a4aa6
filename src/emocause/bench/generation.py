"""Benchmark a responder: perplexity of the reference replies, then replies generated for a subset scored by
`emocause.evaluation` (BLEU, ROUGE, Distinct, BERTScore), the emotion a classifier reads in them, speed, and
a blinded A/B sheet for human judges.

The evaluated examples are a fixed random subset (seeded) of the split's reply examples; N is in every row.
"""

from __future__ import annotations

import csv
import html
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emocause.bench.results import ResultRow, describe_device
from emocause.data.io import iter_jsonl, require
from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.evaluation import evaluate_predictions
from emocause.metrics import perplexity
from emocause.models.emotion import EmotionClassifier
from emocause.models.lm import LMConfig
from emocause.models.registry import load_model
from emocause.models.responder import Responder, ResponderConfig
from emocause.training.generation import ResponderRecipe, ResponseExample, prepare_examples

ZERO_SHOT = "zero-shot"
TASK = "response_generation"
SEED = 2024


def load_responder(model: str | Path, engine: str = "transformers") -> Responder:
    """A trained responder ready for inference on `engine`, or `zero-shot`: the base LM (frozen) with the CAER
    instruction and no labels."""
    if str(model) == ZERO_SHOT:
        config = ResponderConfig(lm=LMConfig(lora_r=-1))
        config.prompt.situation = config.prompt.emotion = config.prompt.cause = False
        loaded = Responder(config).eval()
    else:
        trained = load_model(model)
        if not isinstance(trained, Responder):
            raise ModelError(f"{model} is not a responder model")
        loaded = trained
    loaded.prepare_inference(engine)
    return loaded


def bench_responder(
    model: str | Path,
    dataset: str,
    split: str = "test",
    *,
    label: str | None = None,
    replies: str = "every",
    causes: str = "data",
    n_perplexity: int = 300,
    n_generate: int = 100,
    emotion_model: str | None = "emotion-ed",
    engine: str = "transformers",
    data_root: str | Path | None = None,
) -> tuple[list[ResultRow], list[dict[str, Any]]]:
    """Result rows, and the generated replies (`id`, `turn`, `context`, `reference`, `response`)."""
    responder = load_responder(model, engine)
    label = label or str(model)
    recipe = ResponderRecipe(dataset=dataset, model=responder.config, replies=replies, causes=causes)  # type: ignore[arg-type]
    examples = prepare_examples(recipe, split, n_perplexity, SEED, data_root)
    started = time.perf_counter()
    # llama.cpp only generates; perplexity is a transformers measurement and is left to that engine's row.
    scored = (
        responder.response_nll([x.input for x in examples], [x.response for x in examples])
        if responder.lm.engine is None
        else []
    )
    shown = examples[:n_generate]
    generated = responder.respond([x.input for x in shown])
    records = [
        {"id": x.dialogue_id, "turn": x.turn, "response": r} for x, r in zip(shown, generated, strict=True)
    ]
    notes = f"{len(shown)} generated of a seeded sample; {_decoding_note(responder)}"
    evaluation = evaluate_predictions(
        "response", list(enumerate(records, 1)), dataset, split, data_root=data_root,
        allow_partial=True, with_bertscore=True, source=label,
    )  # fmt: skip
    evaluation.seconds = time.perf_counter() - started
    evaluation.task = TASK
    rows = evaluation.rows(label, notes)  # perplexity comes below, over all scored references
    tokens = sum(c for _, c in scored)
    if scored:
        rows.append(
            ResultRow(TASK, dataset, split, len(examples), "perplexity_subword",
                      perplexity(sum(n for n, _ in scored), tokens), label, describe_device(), evaluation.seconds,
                      notes=f"reference replies of a seeded sample, {tokens} target tokens",
                      definition="exp(total NLL / target tokens), LM subword tokens incl. the end-of-turn token")
        )  # fmt: skip
    if emotion_model and dataset == "empathetic_dialogues":
        rows += _emotion_rows(emotion_model, shown, generated, dataset, split, label)
    rows += _speed_rows(responder, examples[:8], dataset, split, label)
    sample = [
        {"id": x.dialogue_id, "turn": x.turn, "context": _transcript(x.input.context), "reference": x.response,
         "response": r}
        for x, r in zip(shown, generated, strict=True)
    ]  # fmt: skip
    return rows, sample


def _decoding_note(responder: Responder) -> str:
    d = responder.config.decoding
    how = f"sampling T={d.temperature} top-p {d.top_p}" if d.do_sample else "greedy"
    if responder.lm.engine is not None:
        how += ", llama.cpp"
    return f"{how}, max {d.max_new_tokens} new tokens, repetition penalty {d.repetition_penalty}, no repeated {d.no_repeat_ngram_size}-grams"


def _transcript(turns: Sequence[Turn]) -> str:
    return "\n".join(f"{t.role}: {t.text}" for t in turns)


def _emotion_rows(
    model_name: str,
    shown: Sequence[ResponseExample],
    generated: Sequence[str],
    dataset: str,
    split: str,
    label: str,
) -> list[ResultRow]:
    """Does a reply carry the sharer's emotion? The ED classifier reads each reply alone; gold = the dialogue's."""
    classifier = load_model(model_name)
    if not isinstance(classifier, EmotionClassifier):
        raise ModelError(f"{model_name} is not an emotion classifier")
    rows = []
    gold = [x.input.emotion for x in shown]
    for what, texts in (("generated", generated), ("reference", [x.response for x in shown])):
        start = time.perf_counter()
        top = classifier.top_k([[Turn("speaker", t or ".")] for t in texts], 1)
        hits = sum(1 for (ranked, g) in zip(top, gold, strict=True) if ranked[0][0] == g)
        rows.append(ResultRow(
            TASK, dataset, split, len(texts), f"reply_emotion_accuracy_{what}", hits / max(len(texts), 1),
            label, describe_device(), time.perf_counter() - start,
            definition=f"share of {what} replies in which {model_name} (32 ED classes) reads the dialogue's emotion",
        ))  # fmt: skip
    return rows


def _speed_rows(
    responder: Responder, examples: Sequence[ResponseExample], dataset: str, split: str, label: str
) -> list[ResultRow]:
    rows = []
    inputs = [x.input for x in examples]
    responder.respond(inputs[:1], 1)  # warm-up
    for batch_size in (1, 8):
        start = time.perf_counter()
        replies = responder.respond(inputs, batch_size)
        seconds = time.perf_counter() - start
        tokens = sum(len(responder.tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies)
        rows += [
            ResultRow("response_speed", dataset, split, len(inputs), f"tokens_per_second_batch{batch_size}",
                      tokens / seconds, label, describe_device(), seconds,
                      definition=f"generated tokens per second at batch size {batch_size} (prompt processing included)"),
            ResultRow("response_speed", dataset, split, len(inputs), f"seconds_per_reply_batch{batch_size}",
                      seconds / len(inputs), label, describe_device(), seconds,
                      definition=f"wall seconds per reply at batch size {batch_size}, max {responder.config.decoding.max_new_tokens} new tokens"),
        ]  # fmt: skip
    return rows


def write_ab_sheet(
    ours: Sequence[dict[str, Any]],
    baseline: Sequence[dict[str, Any]],
    folder: Path,
    n: int = 50,
    seed: int = SEED,
) -> tuple[Path, Path]:
    """A blinded pairwise sheet (CSV and HTML): per context, replies A and B in random order, columns for
    Empathy / Relevance / Fluency; the key saying which is ours goes to a separate file."""
    by_key = {(b["id"], b["turn"]): b for b in baseline}
    pairs = [(o, by_key[(o["id"], o["turn"])]) for o in ours if (o["id"], o["turn"]) in by_key][:n]
    if not pairs:
        raise ModelError("the two reply sets share no (id, turn); generate both on the same split")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sheet, key = folder / "ab_sheet.csv", folder / "ab_key.csv"
    rows = []
    with sheet.open("w", newline="", encoding="utf-8") as s, key.open("w", newline="", encoding="utf-8") as k:
        sheet_writer, key_writer = csv.writer(s), csv.writer(k)
        sheet_writer.writerow(["item", "context", "reply_A", "reply_B", "empathy (A/B/tie)", "relevance (A/B/tie)", "fluency (A/B/tie)"])  # fmt: skip
        key_writer.writerow(["item", "ours_is"])
        for item, (o, b) in enumerate(pairs, 1):
            ours_first = rng.random() < 0.5
            a, bb = (o, b) if ours_first else (b, o)
            sheet_writer.writerow([item, o["context"], a["response"], bb["response"], "", "", ""])
            key_writer.writerow([item, "A" if ours_first else "B"])
            rows.append((item, o["context"], a["response"], bb["response"]))
    page = folder / "ab_sheet.html"
    cells = "".join(
        f"<tr><td>{i}</td><td><pre>{html.escape(c)}</pre></td><td>{html.escape(a)}</td><td>{html.escape(b)}</td>"
        "<td></td><td></td><td></td></tr>"
        for i, c, a, b in rows
    )
    page.write_text(
        "<!doctype html><meta charset='utf-8'><title>Blind A/B</title><table border=1><tr><th>#</th><th>context</th>"
        "<th>reply A</th><th>reply B</th><th>empathy</th><th>relevance</th><th>fluency</th></tr>"
        f"{cells}</table>",
        encoding="utf-8",
    )
    return sheet, page


def read_replies(path: Path) -> list[dict[str, Any]]:
    """A replies file written by `emocause bench responder`; each line needs id, turn, context and response."""
    records = []
    for line, record in iter_jsonl(path):
        require(record, ("id", "turn", "context", "response"), path, f"line {line}")
        records.append(record)
    return records
