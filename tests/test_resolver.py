"""The model resolver on the real offline weights: SmolLM2 (converted once per run) and all-MiniLM-L6-v2."""

from __future__ import annotations

import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch

from emocause.errors import ModelError
from emocause.models.resolver import (
    DEFAULT_ENCODER,
    DEFAULT_LM,
    causal_lm_gguf,
    load_causal_lm,
    load_encoder,
    load_sentence_encoder,
    resolve_causal_lm_path,
    resolve_encoder_path,
)

pytestmark = pytest.mark.slow

IM_START_ID, IM_END_ID = 1, 2


@pytest.fixture(scope="session")
def lm_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("emocause-cache")
    resolve_causal_lm_path(DEFAULT_LM, cache=cache)  # the one ~25 s conversion of this run
    return cache


@pytest.fixture(scope="session")
def smollm2(lm_cache: Path) -> tuple:
    return load_causal_lm(DEFAULT_LM, cache=lm_cache)


def test_smollm2_resolves_to_a_converted_cache_folder(lm_cache: Path) -> None:
    folder = resolve_causal_lm_path(DEFAULT_LM, cache=lm_cache)
    assert isinstance(folder, Path)
    assert folder.parent == lm_cache / "models"
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "staging folder left behind"


def test_the_gguf_behind_an_lm_is_found_for_llama_cpp(lm_cache: Path, tmp_path: Path) -> None:
    packaged = causal_lm_gguf(DEFAULT_LM)
    assert packaged is not None and packaged.suffix == ".gguf" and packaged.is_file()
    assert causal_lm_gguf(str(resolve_causal_lm_path(DEFAULT_LM, cache=lm_cache))) == packaged  # its source
    folder = tmp_path / "local"
    folder.mkdir()
    (folder / "model.Q8_0.gguf").write_bytes(b"")
    assert causal_lm_gguf(str(folder)) == folder / "model.Q8_0.gguf"
    (folder / "model.F16.gguf").write_bytes(b"")
    assert causal_lm_gguf(str(folder)) is None  # two candidates: the caller must say which
    assert causal_lm_gguf("someone/unknown-model") is None


def test_second_resolve_reuses_the_cache(lm_cache: Path) -> None:
    folder = resolve_causal_lm_path(DEFAULT_LM, cache=lm_cache)
    weights_mtime = (folder / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    again = resolve_causal_lm_path("SmolLM2-135M-Instruct", cache=lm_cache)
    elapsed = time.perf_counter() - start
    assert again == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == weights_mtime
    assert elapsed < 1.0


def test_smollm2_tokenizer_uses_chatml_ids_and_adds_no_bos(smollm2: tuple) -> None:
    model, tokenizer = smollm2
    assert tokenizer.eos_token_id == IM_END_ID
    assert tokenizer.pad_token_id == IM_END_ID
    assert model.generation_config.eos_token_id == IM_END_ID
    assert model.generation_config.pad_token_id == IM_END_ID
    assert tokenizer("I feel sad today.")["input_ids"][0] != IM_START_ID
    messages = [{"role": "user", "content": "Hello"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert ids[0] == IM_START_ID and ids[1] != IM_START_ID  # the template's own <|im_start|>, once


def test_smollm2_generates_a_reply_offline(smollm2: tuple) -> None:
    model, tokenizer = smollm2
    messages = [{"role": "user", "content": "I lost my job today and I feel awful."}]
    inputs = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    reply = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    assert reply
    assert "<|im_start|>" not in reply and "<|im_end|>" not in reply
    assert not reply.startswith("assistant")


def test_minilm_resolves_offline_from_both_names() -> None:
    folder = resolve_encoder_path(DEFAULT_ENCODER)
    assert Path(folder, "config.json").is_file()
    assert resolve_encoder_path("all-MiniLM-L6-v2") == folder
    assert resolve_encoder_path(folder) == folder


def test_minilm_embeds_paraphrases_closer_than_unrelated_sentences() -> None:
    encoder = load_sentence_encoder()
    sentences = [
        "I am so happy that I passed my exam.",
        "I'm delighted because I got through the test.",
        "The train to Berlin leaves at noon.",
    ]
    embeddings = encoder.encode(sentences, normalize_embeddings=True, convert_to_numpy=True)
    assert embeddings.shape == (3, 384)
    paraphrase, unrelated = embeddings[0] @ embeddings[1], embeddings[0] @ embeddings[2]
    assert paraphrase > unrelated + 0.2


def test_load_encoder_gives_a_bare_bert_with_its_tokenizer() -> None:
    model, tokenizer = load_encoder()
    batch = tokenizer(["one sentence", "and another one"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape[0] == 2 and hidden.shape[-1] == 384


def test_missing_local_path_is_a_model_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such-model"
    with pytest.raises(ModelError, match="no such folder"):
        load_causal_lm(str(missing))
    with pytest.raises(ModelError, match="no such folder"):
        resolve_encoder_path(str(missing))


def test_folder_without_a_model_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    with pytest.raises(ModelError, match="holds no model"):
        load_causal_lm(str(tmp_path))
    with pytest.raises(ModelError, match="holds no model"):
        load_sentence_encoder(str(tmp_path))


def test_folder_with_config_but_no_weights_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama"}', encoding="utf-8")
    with pytest.raises(ModelError, match="could not be loaded"):
        load_causal_lm(str(tmp_path))


def test_unreachable_hub_id_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub reads HF_HUB_OFFLINE once at import, so the constant is patched as well.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelError, match="hub could not be reached; pass a local folder"):
        load_causal_lm("someone/no-such-model")
    with pytest.raises(ModelError, match="hub could not be reached; pass a local folder"):
        load_encoder("someone/no-such-encoder")
