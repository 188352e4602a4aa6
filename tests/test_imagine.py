"""IMAGINE: relation groups, knowledge sources and their cache, FACE weights, the model, mechanisms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from emocause.data.io import KeyedCache
from emocause.data.schema import Dialogue, Turn
from emocause.models.imagine import GROUPS, Imagine, ImagineConfig, face_weights
from emocause.models.knowledge import (
    CachedKnowledge,
    CometKnowledge,
    GenerationKnowledge,
    KnowledgeEntry,
    RetrievalKnowledge,
    clean_inference,
    parse_completions,
)
from emocause.models.registry import load_model
from emocause.models.scratch import Example, build_vocab, tokenize
from emocause.resources.commonsense import GROUP_OF, RELATION_GROUPS, RELATIONS, group_inferences
from emocause.training.mechanisms import epitome_split, mechanism_examples

TINY = {"hidden": 24, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "feedforward": 32, "dropout": 0.0,
        "min_count": 1, "embedding_dim": 8, "max_response_words": 8}  # fmt: skip
KNOWLEDGE = {
    "affect": ["sad", "upset"],
    "behaviour": ["to find a new job"],
    "physical": [],
    "events": ["no money"],
}
EXAMPLES = [
    Example("d1", 3, [Turn("speaker", "I lost my job today."), Turn("listener", "Oh no, why?"),
                      Turn("speaker", "The company closed and rent is due.")],
            "sad", "I am so sorry, that is hard.", [0, 2], KNOWLEDGE, [1, 1, 0]),
    Example("d2", 1, [Turn("speaker", "We won the final, what a great day!")], "proud", "Congratulations!",
            [], {"affect": ["happy"], "behaviour": [], "physical": [], "events": []}, [1, 0, 1]),
    Example("d3", 1, [Turn("speaker", "A spider ran over my hand!")], "terrified", "Did it bite you?"),
]  # fmt: skip


def test_relations_fall_into_the_papers_four_groups() -> None:
    assert {g: len(r) for g, r in RELATION_GROUPS.items()} == {
        "affect": 1,
        "behaviour": 5,
        "physical": 3,
        "events": 2,
    }
    assert len(RELATIONS) == len(set(RELATIONS)) == 11
    assert GROUP_OF["xReason"] == "events" and GROUP_OF["Desires"] == "physical"
    grouped = group_inferences({"xWant": ["to rest"], "xIntent": ["to help"], "Causes": ["fear"]})
    assert grouped == {"affect": [], "behaviour": ["to help", "to rest"], "physical": [], "events": ["fear"]}


def test_inference_cleaning_and_lm_answer_parsing() -> None:
    assert clean_inference("  None ") is None
    assert clean_inference("1. To Get Help.") == "to get help"
    answer = "1. As a result, PersonX feels sad\n- lonely\n\n* sad\n4) worried about money\nangry\nscared"
    assert parse_completions(answer, "xReact") == ["sad", "lonely", "worried about money", "angry", "scared"]


def test_keyed_cache_survives_a_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    cache = KeyedCache(path)
    cache.put("a", [1, 2])
    cache.put("b", {"x": "y"})
    cache.close()
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"key": "c", "val')  # killed mid-write
    again = KeyedCache(path)
    assert len(again) == 2 and again.get("a") == [1, 2] and "c" not in again
    again.put("c", 3)
    again.close()
    assert KeyedCache(path).get("c") == 3


class CountingSource:
    name = "counting"

    def __init__(self, fail_after: int | None = None):
        self.calls: list[str] = []
        self.fail_after = fail_after

    def infer(self, texts: list[str], relations: tuple[str, ...] = RELATIONS) -> list[dict[str, list[str]]]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += list(texts)
        return [{r: [f"{t} {r}"] for r in relations} for t in texts]


def test_cached_knowledge_computes_each_query_once_and_resumes(tmp_path: Path) -> None:
    texts = [f"event {i}" for i in range(10)]
    interrupted = CountingSource(fail_after=4)
    cached = CachedKnowledge(interrupted, tmp_path / "k.jsonl", chunk=4)
    with pytest.raises(KeyboardInterrupt):
        cached.infer(texts, ["xReact"])
    cached.close()
    resumed = CountingSource()
    result = CachedKnowledge(resumed, tmp_path / "k.jsonl", chunk=4).infer(texts + texts[:2], ["xReact"])
    assert resumed.calls == texts[4:]  # the first chunk was kept
    assert result[3] == {"xReact": ["event 3 xReact"]} and result[10] == result[0]


def test_retrieval_returns_nearest_heads_per_relation_and_leaves_out_excluded() -> None:
    entries = [
        KnowledgeEntry("PersonX loses their job", "xReact", ["sad", "none", "worried"]),
        KnowledgeEntry("PersonX loses their job", "xWant", ["to find work"]),
        KnowledgeEntry("PersonX wins the lottery", "xReact", ["happy", "rich"]),
    ]
    source = RetrievalKnowledge(entries, neighbours=1)
    (inferred,) = source.infer(["I got fired from my job"], ["xReact", "xWant", "Causes"])
    assert inferred == {"xReact": ["sad", "worried"], "xWant": ["to find work"], "Causes": []}
    (held_out,) = source.infer(["PersonX loses their job"], ["xReact"], exclude=["PersonX loses their job"])
    assert held_out["xReact"] == ["happy", "rich"]


def test_retrieval_floor_and_head_vector_cache(tmp_path: Path) -> None:
    entries = [
        KnowledgeEntry("PersonX loses their job", "xReact", ["sad"]),
        KnowledgeEntry("terrorist", "Desires", ["kill people"]),
    ]
    first = RetrievalKnowledge(entries, min_similarity=0.3, vectors_cache=tmp_path)
    (inferred,) = first.infer(["I got fired from my job"], ["xReact", "Desires"])
    assert inferred == {"xReact": ["sad"], "Desires": []}  # the distant head is never used
    assert "min0.3" in first.name and len(list(tmp_path.glob("heads-*.npy"))) == 1

    second = RetrievalKnowledge(entries, min_similarity=0.3, vectors_cache=tmp_path)
    embedded: list[str] = []
    embed = second._embed
    second._embed = lambda texts: (embedded.extend(texts), embed(texts))[1]  # type: ignore[method-assign]
    assert second.infer(["I got fired from my job"], ["xReact", "Desires"]) == [inferred]
    assert embedded == ["I got fired from my job"]  # the heads came from the cache
    np.testing.assert_allclose(second.head_vectors(), first.head_vectors())


def test_generation_source_asks_one_prompt_per_relation(tiny_models: dict[str, Path]) -> None:
    from emocause.models.chat import LocalChatBackend

    source = GenerationKnowledge(LocalChatBackend(str(tiny_models["llama"])), max_new_tokens=6)
    results = source.infer(["PersonX lost their job", "PersonX won"], ["xReact", "Causes"])
    assert len(results) == 2 and all(set(r) == {"xReact", "Causes"} for r in results)
    assert all(len(v) <= 5 for r in results for v in r.values())


def test_comet_checkpoint_by_path(tmp_path: Path) -> None:
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    from emocause.models.resolver import resolve_encoder_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder_path())
    config = BartConfig(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=16,
                        decoder_ffn_dim=16, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                        decoder_start_token_id=tokenizer.cls_token_id, forced_eos_token_id=None)  # fmt: skip
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(tmp_path / "comet")
    tokenizer.save_pretrained(tmp_path / "comet")
    source = CometKnowledge(str(tmp_path / "comet"), max_new_tokens=4)
    (inferred,) = source.infer(["PersonX lost their job"], ["xReact", "xIntent"])
    assert set(inferred) == {"xReact", "xIntent"} and all(len(v) <= 5 for v in inferred.values())
    from emocause.errors import ModelError

    with pytest.raises(ModelError, match="COMET checkpoint"):
        CometKnowledge(str(tmp_path / "missing"))


def test_face_weights_have_mean_one_and_penalise_frequent_words() -> None:
    assert torch.equal(face_weights(torch.zeros(5)), torch.ones(5))
    counts = torch.tensor([0.0, 50.0, 10.0, 40.0, 0.0])
    weights = face_weights(counts)
    assert weights.mean().item() == pytest.approx(1.0)
    assert weights.min().item() >= 0 and weights[1].item() == 0.0
    assert weights[0] > weights[2] > weights[3] > weights[1]
    # w_i = 1 - FQ_i / max FQ before normalisation (Eqs. 20-21)
    raw = 1 - (counts / counts.sum()) / (counts / counts.sum()).max()
    assert torch.allclose(weights, raw / raw.mean())


def test_batch_reads_causes_knowledge_and_mechanisms() -> None:
    config = ImagineConfig(**TINY)
    model = Imagine(config, build_vocab(EXAMPLES, config))
    batch = model.batch(EXAMPLES)
    words = model.vocab.words
    first = [words[i] for i in batch.cause[0].tolist() if i]
    assert first == ["<cls>"] + tokenize(EXAMPLES[0].context[0].text + " " + EXAMPLES[0].context[2].text)
    second = [words[i] for i in batch.cause[1].tolist() if i]
    assert second == ["<cls>"] + tokenize(EXAMPLES[1].context[0].text)  # no cause found: the last turn
    assert set(batch.knowledge) == set(GROUPS)
    assert (
        words[batch.knowledge["behaviour"][0, 0]] == "<cls>"
        and words[batch.knowledge["affect"][0, 0]] == "sad"
    )
    assert batch.mechanisms.tolist() == [[1, 1, 0], [1, 0, 1], [-100, -100, -100]]
    whole = Imagine(ImagineConfig(**TINY, use_causes=False), model.vocab).batch(EXAMPLES)
    assert (whole.cause[0] != 0).sum() > (batch.cause[0] != 0).sum()


@pytest.mark.parametrize("options", [
    {}, {"use_causes": False}, {"use_mechanisms": False}, {"use_knowledge": False}, {"diversity_weight": 0.0},
    {"face_counts": "references"},
])  # fmt: skip
def test_tiny_train_step_and_round_trip(options: dict, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = ImagineConfig(**TINY, **options)
    model = Imagine(config, build_vocab(EXAMPLES, config))
    batch = model.batch(EXAMPLES)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first, parts = model.loss(batch)
    assert math.isfinite(first.item()) and "emo" in parts
    assert ("cm" in parts) == config.use_mechanisms
    assert ("div" in parts) == (config.diversity_weight > 0)
    for _ in range(25):
        loss, _ = model.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.loss(batch)[0].item() < first.item() - 0.5
    if config.diversity_weight > 0:
        assert model.token_counts.sum() > 0
    model.eval()
    replies = model.generate(batch)
    assert len(replies) == 3 and isinstance(model.generate(model.batch(EXAMPLES[:1]), beam=3)[0], str)
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "model.json").read_text())["method"] == "imagine"
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is Imagine
    assert loaded.score(batch)[0] == pytest.approx(model.score(batch)[0], rel=1e-5)


def test_emotion_signal_is_the_decoders_first_input() -> None:
    torch.manual_seed(0)
    config = ImagineConfig(**TINY)
    model = Imagine(config, build_vocab(EXAMPLES, config)).eval()
    batch = model.batch(EXAMPLES)
    encoded = model.encode(batch)
    prefix = model.decoder_input(batch.target)
    before = model.decode(encoded, prefix)
    encoded.extra["emotion_signal"] = encoded.extra["emotion_signal"] + 1.0
    assert not torch.allclose(before, model.decode(encoded, prefix))


def _epitome(post_id: str, levels: tuple[int, int, int]) -> Dialogue:
    names = ("emotional_reactions", "interpretations", "explorations")
    meta = {"mechanisms": {n: {"level": lv, "rationales": []} for n, lv in zip(names, levels, strict=True)}}
    return Dialogue(
        f"{post_id}/r#0", "epitome", "all", [Turn("speaker", "post"), Turn("listener", "reply", meta=meta)]
    )


def test_epitome_split_by_post_and_levels_merged_to_yes() -> None:
    dialogues = [_epitome(f"p{i}", (i % 3, 0, 2)) for i in range(300)]
    splits = {s: mechanism_examples(dialogues, s) for s in ("train", "valid", "test")}
    assert sum(len(v) for v in splits.values()) == 300
    assert 0.05 < len(splits["test"]) / 300 < 0.15 and 0.05 < len(splits["valid"]) / 300 < 0.15
    assert epitome_split(_epitome("p7", (0, 0, 0))) == epitome_split(_epitome("p7", (2, 2, 2)))
    labels = {x.labels for v in splits.values() for x in v}
    assert labels == {(0, 0, 1), (1, 0, 1)}  # levels 1 and 2 are both "yes"


def test_knowledge_and_mechanisms_commands(real_root: Path) -> None:
    from typer.testing import CliRunner

    from emocause.cli import _register, app

    _register()
    runner = CliRunner()
    result = runner.invoke(
        app, ["knowledge", "PersonX lost their job", "-r", "xReact", "-r", "xWant", "--json"]
    )
    assert result.exit_code == 0, result.output
    inferred = json.loads(result.output)
    assert set(inferred) == {"xReact", "xWant"} and 1 <= len(inferred["xReact"]) <= 5
    result = runner.invoke(app, ["knowledge", "  "])
    assert result.exit_code != 0 and "give a TEXT" in str(result.exception)
    result = runner.invoke(app, ["knowledge", "x", "--source", "oracle"])
    assert result.exit_code != 0 and "knowledge source 'oracle'" in str(result.exception)
    result = runner.invoke(app, ["mechanisms", "--post", "I failed my exam and I feel useless.",
                                 "--response", "I'm so sorry, that must hurt. What happened?", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    probabilities = json.loads(result.output)
    assert list(probabilities) == ["emotional_reactions", "interpretations", "explorations"]
    assert probabilities["explorations"] > 0.5  # a question back is the textbook exploration
