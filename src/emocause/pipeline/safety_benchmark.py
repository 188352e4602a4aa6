"""`emocause bench safety`: the safety screens on the held-out test sets, as a safety team would read them.

- Risk (`risk-test.jsonl`, families written apart from the training ones and never used for training, selection
  or thresholds): `crisis_recall` is the share of crisis and concern messages that get a safety reply (either
  level: both replace model output and point to help); `crisis_level_recall` the share of crisis messages
  answered at the crisis level; `direct_recall` the share of direct statements caught; per category too.
  `lookalike_false_positive_rate` is the share of harmless look-alikes that get a safety reply.
- Evasions (`evasion-test.jsonl`): `evasion_recall`, crisis messages written to slip past a filter.
- Replies (`replies-test.jsonl`): `output_screen_recall` on unsafe replies, `output_screen_false_positive_rate`
  on safe ones; and the false-positive rate on our own generated replies to EmpatheticDialogues test openings
  (`--generated`, a file of replies made once by the shipped responder, `generated_replies`).
- Real text we did not write: `flag_rate` of the risk screen on EmpatheticDialogues test openings (ordinary
  emotional stories; a flag there is mostly a false alarm, and each one is listed to be read).
- Latency: p50 / p95 milliseconds the screens add per request (batch 1).

Every row is computed for the rules alone and for rules plus the learned screens, so the classifier's part shows.
Misses and false alarms are written beside the rows (`*.details.json`) to be read, not only counted.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emocause.bench.results import ResultRow, describe_device
from emocause.data import load
from emocause.data.safety import ScreenExample, load_reply_examples, load_risk_examples
from emocause.data.schema import Turn
from emocause.pipeline.safety import ReplyScreen, RiskScreen, SafetyPolicy

RISK_TEST = "risk-test.jsonl"
EVASION_TEST = "evasion-test.jsonl"
REPLIES_TEST = "replies-test.jsonl"


@dataclass
class Scored:
    rows: list[ResultRow]
    details: dict[str, Any]


def _dialogue(x: ScreenExample) -> list[Turn]:
    turns: list[Turn] = []
    for text in x.turns:
        if turns:
            turns.append(Turn("listener", "I see. Tell me more."))
        turns.append(Turn("speaker", text))
    return turns


def _share(hits: Sequence[bool]) -> float:
    return sum(hits) / len(hits) if hits else 0.0


def _dataset(file: str) -> str:
    """The rows' dataset name: `safety-` and the file's stem (`risk-test.jsonl` -> `safety-risk-test`)."""
    return "safety-" + Path(file).name.removesuffix(".jsonl")


def risk_rows(
    screen: RiskScreen, label: str, risk_file: str = RISK_TEST, evasion_file: str | None = EVASION_TEST
) -> Scored:
    examples = load_risk_examples(risk_file)
    evasions = load_risk_examples(evasion_file) if evasion_file else []
    dataset = _dataset(risk_file)
    start = time.perf_counter()
    levels = [a.level for a in screen.assess([_dialogue(x) for x in examples])]
    evasion_levels = [a.level for a in screen.assess([_dialogue(x) for x in evasions])] if evasions else []
    seconds = time.perf_counter() - start
    device = describe_device()

    def row(dataset: str, n: int, metric: str, value: float, definition: str) -> ResultRow:
        return ResultRow(
            "safety", dataset, "test", n, metric, value, label, device, seconds, definition=definition
        )

    risky = [(x, lv) for x, lv in zip(examples, levels, strict=True) if x.level != "none"]
    harmless = [(x, lv) for x, lv in zip(examples, levels, strict=True) if x.level == "none"]
    crisis = [(x, lv) for x, lv in risky if x.level == "crisis"]
    direct = [(x, lv) for x, lv in risky if x.kind == "direct"]
    rows = [
        row(dataset, len(risky), "crisis_recall", _share([lv != "none" for _, lv in risky]),
            "share of crisis and concern messages that get a safety reply (concern or crisis level)"),
        row(dataset, len(crisis), "crisis_level_recall", _share([lv == "crisis" for _, lv in crisis]),
            "share of crisis messages answered at the crisis level"),
        row(dataset, len(direct), "direct_recall", _share([lv != "none" for _, lv in direct]),
            "share of direct statements (kind direct) that get a safety reply"),
        row(dataset, len(harmless), "lookalike_false_positive_rate",
            _share([lv != "none" for _, lv in harmless]), "share of harmless look-alikes that get a safety reply"),
        row(dataset, len(harmless), "lookalike_crisis_rate", _share([lv == "crisis" for _, lv in harmless]),
            "share of harmless look-alikes that get the crisis reply (the rest of the false positives get the check-in)"),
    ]  # fmt: skip
    if evasions:
        rows.append(row(_dataset(evasion_file or ""), len(evasions), "evasion_recall",
                        _share([lv != "none" for lv in evasion_levels]),
                        "share of crisis messages written to evade a filter that get a safety reply"))  # fmt: skip
    for category in sorted({x.category for x, _ in risky}):
        hits = [lv != "none" for x, lv in risky if x.category == category]
        rows.append(row(f"{dataset}/{category}", len(hits), "crisis_recall", _share(hits),
                        f"crisis_recall on the {category} messages"))  # fmt: skip
    details = {
        "missed": [{"turns": list(x.turns), "level": x.level, "category": x.category, "kind": x.kind}
                   for x, lv in risky if lv == "none"],
        "false_alarms": [{"turns": list(x.turns), "kind": x.kind, "assessed": lv} for x, lv in harmless if lv != "none"],
        "evasions_missed": [x.text for x, lv in zip(evasions, evasion_levels, strict=True) if lv == "none"],
    }  # fmt: skip
    return Scored(rows, details)


def real_text_rows(screen: RiskScreen, label: str, data_root: str | Path | None, n: int) -> Scored:
    """The risk screen on EmpatheticDialogues test openings: real emotional text nobody here wrote."""
    dialogues = load("empathetic_dialogues", "test", data_root).dialogues[:n]
    openings = [[Turn("speaker", d.turns[0].text)] for d in dialogues if d.turns]
    start = time.perf_counter()
    assessed = screen.assess(openings)
    seconds = time.perf_counter() - start
    flagged = [
        (t[0].text, a.level, a.categories)
        for t, a in zip(openings, assessed, strict=True)
        if a.level != "none"
    ]
    row = ResultRow("safety", "empathetic_dialogues", "test", len(openings), "flag_rate",
                    len(flagged) / max(len(openings), 1), label, describe_device(), seconds,
                    notes="ordinary emotional stories; every flagged one is listed in the details file",
                    definition="share of ED test opening turns that get a safety reply (mostly false alarms)")  # fmt: skip
    return Scored([row], {"ed_flagged": [{"text": t, "level": lv, "categories": c} for t, lv, c in flagged]})


def reply_rows(
    screen: ReplyScreen, label: str, generated: Sequence[str], replies_file: str = REPLIES_TEST
) -> Scored:
    examples = load_reply_examples(replies_file)
    dataset = _dataset(replies_file)
    start = time.perf_counter()
    flags = screen.flags([x.text for x in examples])
    generated_flags = screen.flags(list(generated)) if generated else []
    seconds = time.perf_counter() - start
    device = describe_device()
    unsafe = [(x, f) for x, f in zip(examples, flags, strict=True) if x.level == "unsafe"]
    safe = [(x, f) for x, f in zip(examples, flags, strict=True) if x.level == "safe"]

    def row(dataset: str, n: int, metric: str, value: float, definition: str) -> ResultRow:
        return ResultRow(
            "safety", dataset, "test", n, metric, value, label, device, seconds, definition=definition
        )

    rows = [
        row(dataset, len(unsafe), "output_screen_recall", _share([bool(f) for _, f in unsafe]),
            "share of unsafe replies the output screen replaces"),
        row(dataset, len(safe), "output_screen_false_positive_rate", _share([bool(f) for _, f in safe]),
            "share of safe written replies the output screen replaces"),
    ]  # fmt: skip
    for category in sorted({x.category for x, _ in unsafe}):
        hits = [bool(f) for x, f in unsafe if x.category == category]
        rows.append(row(f"{dataset}/{category}", len(hits), "output_screen_recall", _share(hits),
                        f"output_screen_recall on {category} replies"))  # fmt: skip
    if generated:
        rows.append(row("ed-generated-replies", len(generated), "output_screen_false_positive_rate",
                        _share([bool(f) for f in generated_flags]),
                        "share of the shipped responder's replies to ED test openings the screen replaces"))  # fmt: skip
    details = {
        "unsafe_missed": [{"text": x.text, "category": x.category} for x, f in unsafe if not f],
        "safe_blocked": [{"text": x.text, "flags": f} for x, f in safe if f],
        "generated_blocked": [
            {"text": t, "flags": f} for t, f in zip(generated, generated_flags, strict=True) if f
        ],
    }
    return Scored(rows, details)


def latency_rows(policy: SafetyPolicy, label: str, n: int = 100) -> list[ResultRow]:
    """Milliseconds each screen adds to one request (batch 1), over `n` test messages and replies."""
    messages = [_dialogue(x) for x in load_risk_examples(RISK_TEST)[:n]]
    replies = [x.text for x in load_reply_examples(REPLIES_TEST)[:n]]
    policy.risk.assess(messages[:1])  # warm-up
    risk_ms, reply_ms = [], []
    for turns in messages:
        start = time.perf_counter()
        policy.risk.assess([turns])
        risk_ms.append(1000 * (time.perf_counter() - start))
    for reply in replies:
        start = time.perf_counter()
        policy.output.flags([reply])
        reply_ms.append(1000 * (time.perf_counter() - start))
    device = describe_device()
    rows = []
    for name, values in (("risk_screen", risk_ms), ("output_screen", reply_ms)):
        for q in (50, 95):
            value = statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]
            rows.append(ResultRow("safety", "safety-risk-test" if name == "risk_screen" else "safety-replies-test",
                                  "test", len(values), f"{name}_p{q}_ms", value, label, device, sum(values) / 1000,
                                  definition=f"{q}th percentile of milliseconds the {name.replace('_', ' ')} adds "
                                             "to one request (batch 1)"))  # fmt: skip
    return rows


def read_generated(path: Path) -> list[str]:
    return [
        json.loads(line)["reply"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
