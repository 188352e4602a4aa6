"""Responders: ECG's biased attention hook, CAER's prompt, and a tiny train-save-load-generate loop.

The models here are tiny random Llama and GPT-2 networks that share SmolLM2's tokenizer, so every code path
(LoRA, left padding, the attention interface, generation) runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.models.caer import CAER_INSTRUCTION, PromptConfig, PromptParts, prompt_text, system_text
from emocause.models.ecg import ATTENTION_NAME, biased_attention, cause_bias, token_cause_probabilities
from emocause.models.lm import LMConfig
from emocause.models.responder import (
    Responder,
    ResponderConfig,
    ResponseInput,
    cause_sentence,
    whole_sentences_of,
)
from emocause.models.words import WordInput
from emocause.training.generation import ResponderTask, ResponseExample, response_examples
from emocause.training.loop import TrainConfig, fit

pytestmark = pytest.mark.slow

CONTEXT = [
    Turn("speaker", "My dog died this morning. I can't stop crying."),
    Turn("listener", "Oh no, I am so sorry."),
    Turn("speaker", "He was with me for twelve years."),
]


def _responder(
    folder: Path, cause_bias: bool = False, targets: tuple[str, ...] = (), **prompt: bool
) -> Responder:
    lm = LMConfig(name=str(folder), lora_r=4, lora_alpha=8, lora_dropout=0.0, lora_targets=list(targets),
                  max_prompt_tokens=200)  # fmt: skip
    return Responder(ResponderConfig(lm=lm, prompt=PromptConfig(**prompt), cause_bias=cause_bias)).eval()


def _causes_for(context: list[Turn], word: str, p: float = 0.9) -> list[list[float]]:
    return [[p if w == word else 0.0 for w in t.text.split()] for t in context]


# --- the attention function itself -------------------------------------------------------------------------


def test_biased_attention_is_the_papers_formula() -> None:
    torch.manual_seed(1)
    batch, heads, length, dim, layers = 2, 2, 5, 4, 6
    query, key, value = (torch.randn(batch, heads, length, dim) for _ in range(3))
    mask = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)[None, None]
    causes = torch.rand(batch, length)
    module = SimpleNamespace(layer_idx=3, config=SimpleNamespace(num_hidden_layers=layers), training=False)
    scale = dim**-0.5
    with cause_bias(causes):
        output, weights = biased_attention(module, query, key, value, mask, scaling=scale)  # type: ignore[arg-type]
    masked = torch.softmax(query @ key.transpose(2, 3) * scale + mask, dim=-1)
    expected = masked * (1 + (4 / layers) * causes[:, None, None, :])
    expected = expected / expected.sum(-1, keepdim=True)
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(output, (expected @ value).transpose(1, 2))
    assert torch.all(weights.triu(diagonal=1) == 0), "the causal mask must survive the re-weighting"

    with cause_bias(torch.zeros(batch, length)):
        _, unbiased = biased_attention(module, query, key, value, mask, scaling=scale)  # type: ignore[arg-type]
    torch.testing.assert_close(unbiased, masked)


def test_token_cause_probabilities_follow_character_spans() -> None:
    # tokens: "My", " dog", " di", "ed", "."   words: dog (0.8), died (0.6)
    offsets = [(0, 2), (2, 6), (6, 9), (9, 11), (11, 12)]
    spans = [(3, 6, 0.8), (7, 11, 0.6)]
    assert token_cause_probabilities(offsets, spans) == [0.0, 0.8, 0.6, 0.6, 0.0]


@pytest.mark.parametrize("architecture", ["llama", "gpt2"])
def test_hook_on_real_models(tiny_models: dict[str, Path], architecture: str) -> None:
    plain = _responder(tiny_models[architecture])
    biased = _responder(tiny_models[architecture], cause_bias=True)
    assert biased.lm.model.config._attn_implementation == ATTENTION_NAME  # type: ignore[union-attr]
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(plain) == count(biased), "ECG adds no parameters"
    assert plain.state_dict().keys() == biased.state_dict().keys()
    biased.load_state_dict(plain.state_dict())

    x = ResponseInput(CONTEXT, word_causes=_causes_for(CONTEXT, "died"))
    batch, causes = biased.batch([x], ["I am so sorry for your loss."])
    assert causes is not None and causes.max() == pytest.approx(0.9)
    assert 0 < int((causes > 0).sum()) < 5, "only the tokens of 'died' carry the cause probability"
    with torch.no_grad():
        reference = plain.lm(batch)
        unbiased = biased.target_nll(batch, torch.zeros_like(causes))[0]
        biased_nll = biased.target_nll(batch, causes)[0]
    torch.testing.assert_close(unbiased, plain.target_nll(batch, None)[0])
    assert (biased_nll - unbiased).abs().item() > 1e-5, "a non-zero C must change the model's output"
    assert reference.shape[1] == batch.n_target_columns + 1, "the LM head runs on the target columns only"

    # layer 1 sees identical inputs in both models: its weights must be the eager ones, re-weighted by 1/L
    with torch.no_grad():
        position_ids = (batch.attention_mask.cumsum(-1) - 1).clamp(min=0)
        eager = plain.lm.model.base_model.model  # type: ignore[union-attr]
        eager.set_attn_implementation("eager")
        first_eager = eager(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                            position_ids=position_ids, output_attentions=True).attentions[0]  # fmt: skip
        with cause_bias(causes):
            first_biased = biased.lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,  # type: ignore[operator]
                                           position_ids=position_ids, output_attentions=True).attentions[0]  # fmt: skip
    layers = plain.lm.n_layers
    expected = first_eager * (1 + causes[:, None, None, :] / layers)
    torch.testing.assert_close(first_biased, expected / expected.sum(-1, keepdim=True))


# --- prompts and examples ----------------------------------------------------------------------------------


def test_caer_prompt_parts_and_ablations(tiny_models: dict[str, Path]) -> None:
    parts = PromptParts(CONTEXT, "Her dog died.", "sad", "My dog died this morning.")
    full = system_text(PromptConfig(), parts)
    assert full.startswith(CAER_INSTRUCTION.format(name="a caring listener"))
    assert (
        "Situation: Her dog died." in full
        and "emotion: sad" in full
        and "cause of the emotion: My dog" in full
    )
    no_cause = system_text(PromptConfig(cause=False), parts)
    assert "cause of the emotion" not in no_cause and "emotion: sad" in no_cause
    assert (
        system_text(PromptConfig(instruction=False, situation=False, emotion=False, cause=False), parts) == ""
    )

    tokenizer = _responder(tiny_models["llama"]).tokenizer
    text = prompt_text(tokenizer, PromptConfig(), parts)
    assert text.endswith("<|im_start|>assistant\n")
    assert text.index("<|im_start|>user\nMy dog died") < text.index("<|im_start|>assistant\nOh no")
    plain_tokenizer = SimpleNamespace(chat_template=None)
    transcript = prompt_text(plain_tokenizer, PromptConfig(instruction=False), parts)  # type: ignore[arg-type]
    assert transcript.splitlines()[-1] == "Listener:" and "User: He was with me" in transcript


def test_long_prompts_lose_their_oldest_turns_first(tiny_models: dict[str, Path]) -> None:
    responder = _responder(tiny_models["llama"], cause_bias=True, instruction=False)
    responder.config.lm.max_prompt_tokens = 40
    long = [Turn("speaker", "word " * 30), *CONTEXT[1:]]
    encoded = responder.encode_prompt(ResponseInput(long, word_causes=_causes_for(long, "twelve")))
    text = responder.tokenizer.decode(encoded.ids)
    assert len(encoded.ids) <= 40 and "word word" not in text and "twelve years" in text
    assert encoded.causes is not None and max(encoded.causes) == pytest.approx(0.9)


def test_response_examples_and_cause_sentence() -> None:
    from emocause.data.schema import CauseSpan, Dialogue

    turns = [*CONTEXT, Turn("listener", "Twelve years is a long friendship.")]
    turns[2].emotion = "sad"
    turns[2].cause_spans.append(CauseSpan(2, 0, 15, "He was with me "))
    dialogue = Dialogue("d1", "test", "test", turns, emotion="devastated", situation="My dog died.")
    every = response_examples([dialogue])
    assert [(x.turn, x.input.emotion, x.input.cause) for x in every] == [
        (1, "devastated", None),
        (3, "sad", "He was with me "),
    ]
    assert [x.turn for x in response_examples([dialogue], "last")] == [3]

    words = WordInput.from_turns(CONTEXT)
    crying = words.words.index("crying.")
    assert cause_sentence(CONTEXT, words, [crying]) == "I can't stop crying."
    listener_word = words.words.index("sorry.")
    assert cause_sentence(CONTEXT, words, [listener_word, words.words.index("twelve")]) == (
        "He was with me for twelve years."
    )


# --- a tiny train, save, load and generate loop ------------------------------------------------------------


@pytest.mark.parametrize("cause_bias", [False, True])
def test_train_save_load_generate(tiny_models: dict[str, Path], tmp_path: Path, cause_bias: bool) -> None:
    torch.manual_seed(0)
    every_linear = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    responder = _responder(tiny_models["llama"], cause_bias=cause_bias, targets=every_linear)
    x = ResponseInput(CONTEXT, "Her dog died.", "sad", "My dog died.", _causes_for(CONTEXT, "died"))
    examples = [ResponseExample("d", 3, x, "I am so sorry, twelve years is a lot of love.")] * 4
    task = ResponderTask(responder)
    before = task.validate(examples)["perplexity"]
    config = TrainConfig(epochs=30, batch_size=4, learning_rate=5e-2, warmup_ratio=0.0, checkpoint_every=100)
    result = fit(task, examples, examples, config, tmp_path / "run")
    assert result.best_metrics["perplexity"] < before / 2, "the reply must be learnt"

    loaded = Responder.load(result.best_folder)
    assert (result.best_folder / "weights.safetensors").stat().st_size < 200_000, "adapters only, not the LM"
    torch.testing.assert_close(
        loaded.response_nll([x], [examples[0].response])[0][0],
        responder.response_nll([x], [examples[0].response])[0][0],
        rtol=1e-4, atol=1e-4,
    )  # fmt: skip
    replies = loaded.respond([x, ResponseInput(CONTEXT[:1], word_causes=_causes_for(CONTEXT[:1], "died"))], 2)
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)
    assert loaded.respond([x], 1) == replies[:1], "left padding must not change a row's greedy reply"
    loaded.config.decoding.max_new_tokens = 12
    (capped,) = loaded.respond([x], 1)
    assert loaded.respond([x], 1, whole_sentences=True) == [whole_sentences_of(capped)]

    before_merge = loaded.response_nll([x], [examples[0].response])[0][0]
    loaded.lm.merge_adapters()
    assert not any(p.requires_grad for p in loaded.parameters())
    assert loaded.response_nll([x], [examples[0].response])[0][0] == pytest.approx(before_merge, rel=1e-4)

    half = Responder.load(result.best_folder)
    with pytest.raises(ModelError, match="dtype 'float16'"):
        half.lm.merge_adapters("float16")
    half.lm.merge_adapters("bfloat16")
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}
    assert half.response_nll([x], [examples[0].response])[0][0] == pytest.approx(before_merge, rel=0.05)
    assert isinstance(half.respond([x], 1)[0], str)


def test_a_capped_reply_ends_at_its_last_whole_sentence() -> None:
    assert whole_sentences_of("I am sorry. Can you tell me more? Was it something that") == (
        "I am sorry. Can you tell me more?"
    )
    assert whole_sentences_of('He said "stop." Then he') == 'He said "stop."'
    assert (
        whole_sentences_of("That is hard, e.g. when you") == "That is hard, e.g. when you"
    )  # no sentence end
    assert whole_sentences_of("I see. i think") == "I see. i think"  # a lower-case start is no new sentence
    assert whole_sentences_of("Wow!") == "Wow!"


# --- benchmark, A/B sheet and the respond command ----------------------------------------------------------


def test_bench_responder_and_ab_sheet(tiny_models: dict[str, Path], real_root: Path, tmp_path: Path) -> None:
    import csv

    from emocause.bench.generation import bench_responder, read_replies, write_ab_sheet

    folder = _responder(tiny_models["llama"]).save(tmp_path / "tiny")
    rows, sample = bench_responder(
        folder, "reccon", "test", n_perplexity=4, n_generate=2, data_root=real_root
    )
    by_metric = {r.metric: r for r in rows}
    assert by_metric["perplexity_subword"].n == 4 and by_metric["perplexity_subword"].value > 1
    assert by_metric["bleu_1"].n == 2 and "greedy" in by_metric["bleu_1"].notes
    assert by_metric["tokens_per_second_batch8"].value > 0
    assert len(sample) == 2 and {"context", "reference", "response"} <= set(sample[0])

    baseline = [{**s, "response": "I see."} for s in sample]
    (tmp_path / "ours.jsonl").write_text("".join(json.dumps(s) + "\n" for s in sample), encoding="utf-8")
    sheet, page = write_ab_sheet(read_replies(tmp_path / "ours.jsonl"), baseline, tmp_path / "ab", n=50)
    table = list(csv.reader(sheet.open(encoding="utf-8")))
    key = list(csv.reader((tmp_path / "ab" / "ab_key.csv").open(encoding="utf-8")))
    assert len(table) == 3 and len(key) == 3 and "<table" in page.read_text(encoding="utf-8")
    for row, (_, ours_is) in zip(table[1:], key[1:], strict=True):
        assert (row[2] if ours_is == "A" else row[3]) != "I see." and "I see." in row[2:4]


def test_respond_command(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emocause.cli import _register, app

    _register()
    folder = _responder(tiny_models["llama"]).save(tmp_path / "tiny")
    runner = CliRunner()
    result = runner.invoke(
        app, ["respond", "My dog died this morning.", "--json", "--responder", str(folder)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert isinstance(payload["reply"], str) and payload["emotions"] and payload["cause_sentence"]
    assert payload["seconds"]["reply"] > 0 and "word_causes" not in payload
    both = runner.invoke(app, ["respond", "hi", "--dialogue", str(tmp_path / "x.json")])
    assert both.exit_code != 0 and "either a TEXT or --dialogue" in str(both.exception)
