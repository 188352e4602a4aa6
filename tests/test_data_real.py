"""Every loader on the real files: sizes match the data README, labels are canonical, causes line up."""

from __future__ import annotations

from pathlib import Path

import pytest

from emocause.data import dataset_names, get_spec, load
from emocause.data.check import check_datasets
from emocause.resources.taxonomies import ECC, ED, EKMAN

OFFLINE = [
    (name, split)
    for name in dataset_names()
    for split in get_spec(name).splits
    if get_spec(name).available_offline
]


@pytest.mark.parametrize(("name", "split"), OFFLINE)
def test_sizes_match_the_data_readme(real_root: Path, name: str, split: str) -> None:
    (report,) = [r for r in check_datasets(real_root, [name]) if r.split == split]
    assert report.status == "ok", report.notes
    assert report.records == get_spec(name).expected[split]


def test_empathetic_dialogues_joins_intents_and_silver_causes(real_root: Path) -> None:
    result = load("empathetic_dialogues", "test", real_root)
    dialogues = result.dialogues
    assert all(d.emotion in ED.labels and d.situation for d in dialogues)
    assert all(
        t.role == ("speaker" if i % 2 == 0 else "listener") for d in dialogues for i, t in enumerate(d.turns)
    )
    assert all("intent" in t.meta for d in dialogues for t in d.turns)
    with_causes = [d for d in dialogues if d.cause_turns]
    assert len(with_causes) > 2000 and all(d.cause_labels == "silver" for d in with_causes)
    assert all(max(d.cause_turns) < len(d.turns) for d in with_causes)
    assert sum(len(d.turns) for d in dialogues if True) == 10_969
    listener_turns = sum(t.role == "listener" for d in dialogues for t in d.turns)
    assert listener_turns == 5_257  # the data README's count


def test_reccon_normalises_labels_and_locates_spans(real_root: Path) -> None:
    dialogues = load("reccon", "train", real_root).dialogues
    turns = [t for d in dialogues for t in d.turns]
    assert {t.emotion for t in turns} <= set(EKMAN.labels)
    assert sum(t.cause_outside for t in turns) > 0  # the "b" marker
    spans = [(d, s) for d in dialogues for t in d.turns for s in t.cause_spans]
    assert len(spans) == 7_271  # every numbered evidence turn has its span located
    assert all(d.turns[s.turn].text[s.start : s.end] == s.text for d, s in spans)
    first = next(d for d in dialogues if d.id == "tr_4466")
    assert first.turns[7].cause_turns == [5, 6]  # 1-based [6, 7] in the file


def test_reccon_comet_attaches_ten_relations(real_root: Path) -> None:
    result = load("reccon_comet", "valid", real_root)
    assert not result.problems
    comet = result.dialogues[0].turns[0].meta["comet"]
    assert len(comet) == 10 and all(len(v) == 5 for v in comet.values())


def test_ecc_dialogues_carry_the_pair_and_sentences(real_root: Path) -> None:
    dialogues = load("ecc", "valid", real_root).dialogues
    for d in dialogues:
        (emotional,) = [t for t in d.turns if t.cause_turns]
        assert emotional.emotion in ECC.labels and d.emotion == emotional.emotion
        (span,) = emotional.cause_spans
        assert d.turns[span.turn].text[span.start : span.end] == span.text
        assert d.meta["head"].startswith("PersonX")


def test_ecc_examples_train_through_the_data_only_unpickler(real_root: Path) -> None:
    result = load("ecc_examples", "train", real_root)
    assert len(result.dialogues) == 7_376
    assert {d.emotion for d in result.dialogues} == set(ECC.labels) - {"neutral"}
    assert all(d.turns[-1].role == "listener" for d in result.dialogues)
    # Prefix examples need not contain the cause sentence yet; those are counted, not dropped.
    located = sum(bool(d.cause_spans) for d in result.dialogues)
    assert located + sum(result.problems.values()) == 7_376


def test_esconv_strategies_and_epitome_mechanisms(real_root: Path) -> None:
    esconv = load("esconv", "train", real_root).dialogues
    strategies = {t.meta["strategy"] for d in esconv for t in d.turns if "strategy" in t.meta}
    assert len(strategies) == 8
    assert all("strategy" not in t.meta for d in esconv for t in d.turns if t.role == "speaker")
    epitome = load("epitome", "all", real_root)
    levels = epitome.dialogues[0].turns[1].meta["mechanisms"]
    assert set(levels) == {"emotional_reactions", "interpretations", "explorations"}
    assert (
        epitome.problems["pair listed more than once (each rating kept as its own record, as released)"] == 61
    )


def test_dailydialog_and_atomic(real_root: Path) -> None:
    dd = load("dailydialog", "valid", real_root).dialogues
    assert {t.emotion for d in dd for t in d.turns} <= set(EKMAN.labels)
    atomic = load("atomic2020", "test", real_root)
    assert len(atomic.knowledge) == 5_000 and not atomic.problems
    xreact = [k for k in atomic.knowledge if k.relation == "xReact"]
    assert len(xreact) == 362 and all(k.generations for k in xreact)
