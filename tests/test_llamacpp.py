"""The llama.cpp engine: LoRA deltas merged into a GGUF copy (layout, quantized tensors kept, errors), and
generation from the merged SmolLM2 compared with transformers on the same adapted model.

The merge is tested on small GGUF files written here; the engine on the packaged SmolLM2 GGUF and the shipped
CAER adapters. Where llama-cpp-python is not installed the engine tests skip, except when
EMOCAUSE_REQUIRE_LLAMA_CPP is set (CI sets it, so there they must run).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from gguf.quants import dequantize, quantize
from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

from emocause.data.schema import Turn
from emocause.errors import ModelError
from emocause.models.llamacpp import (
    LlamaCppEngine,
    build_engine,
    llama_cpp_installed,
    merge_into_gguf,
    permute_qk,
)
from emocause.models.lm import DecodingConfig, LMConfig
from emocause.models.registry import load_model
from emocause.models.resolver import causal_lm_gguf
from emocause.models.responder import Responder, ResponderConfig, ResponseInput

HEADS, KV_HEADS, WIDTH = 4, 2, 64
Q8 = gguf.GGMLQuantizationType.Q8_0


def _tiny_gguf(path: Path, arch: str = "llama") -> dict[str, np.ndarray]:
    """A one-block GGUF: q (float32), k (Q8_0), an embedding (Q8_0); returns the tensors as stored."""
    rng = np.random.default_rng(0)
    tensors = {
        "blk.0.attn_q.weight": rng.standard_normal((WIDTH, WIDTH)).astype(np.float32),
        "blk.0.attn_k.weight": quantize(rng.standard_normal((WIDTH // 2, WIDTH)).astype(np.float32), Q8),
        "token_embd.weight": quantize(rng.standard_normal((10, WIDTH)).astype(np.float32), Q8),
    }
    writer = gguf.GGUFWriter(path, arch)
    writer.add_block_count(1)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_string("general.name", "tiny")
    for name, data in tensors.items():
        writer.add_tensor(name, data, raw_dtype=None if data.dtype == np.float32 else Q8)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tensors


def test_permutation_is_the_inverse_of_transformers_gguf_loading() -> None:
    weight = np.arange(WIDTH * 8, dtype=np.float32).reshape(WIDTH, 8)
    processor = LlamaTensorProcessor()
    for n_head in (HEADS, KV_HEADS):
        permuted = permute_qk(weight, n_head)
        assert not np.array_equal(permuted, weight)
        assert np.array_equal(processor._reverse_permute_weights(permuted, n_head, n_head), weight)


def test_merge_adds_permuted_deltas_and_copies_the_rest(tmp_path: Path) -> None:
    base = tmp_path / "base.gguf"
    stored = _tiny_gguf(base)
    rng = np.random.default_rng(1)
    delta_q = torch.from_numpy(rng.standard_normal((WIDTH, WIDTH)).astype(np.float32))
    delta_k = torch.from_numpy(rng.standard_normal((WIDTH // 2, WIDTH)).astype(np.float32))
    out = merge_into_gguf(
        base,
        {
            "model.layers.0.self_attn.q_proj.weight": delta_q,
            "model.layers.0.self_attn.k_proj.weight": delta_k,
        },
        tmp_path / "merged.gguf",
    )
    merged = {t.name: t for t in gguf.GGUFReader(out).tensors}
    q = merged["blk.0.attn_q.weight"]
    assert q.tensor_type == gguf.GGMLQuantizationType.F32
    np.testing.assert_allclose(
        q.data, stored["blk.0.attn_q.weight"] + permute_qk(delta_q.numpy(), HEADS), rtol=1e-6
    )
    k = merged["blk.0.attn_k.weight"]  # a quantized tensor with a delta becomes float32
    base_k = dequantize(stored["blk.0.attn_k.weight"], Q8)
    np.testing.assert_allclose(k.data, base_k + permute_qk(delta_k.numpy(), KV_HEADS), rtol=1e-5, atol=1e-6)
    embedding = merged["token_embd.weight"]  # untouched: the same quantized bytes
    assert embedding.tensor_type == Q8
    assert np.array_equal(np.asarray(embedding.data), stored["token_embd.weight"])
    reader = gguf.GGUFReader(out)
    assert reader.fields["general.name"].contents() == "tiny"
    assert reader.fields["llama.attention.head_count_kv"].contents() == KV_HEADS
    assert not list(tmp_path.glob(".merged.gguf.*"))  # no staging file left


def test_qwen_style_deltas_are_not_permuted(tmp_path: Path) -> None:
    base = tmp_path / "base.gguf"
    stored = _tiny_gguf(base, arch="qwen2")
    delta = torch.randn(WIDTH, WIDTH)
    out = merge_into_gguf(base, {"model.layers.0.self_attn.q_proj.weight": delta}, tmp_path / "m.gguf")
    q = next(t for t in gguf.GGUFReader(out).tensors if t.name == "blk.0.attn_q.weight")
    np.testing.assert_allclose(q.data, stored["blk.0.attn_q.weight"] + delta.numpy(), rtol=1e-6)


def test_merge_errors_name_the_problem(tmp_path: Path) -> None:
    base = tmp_path / "base.gguf"
    _tiny_gguf(base)
    with pytest.raises(ModelError, match="does not hold"):
        merge_into_gguf(
            base, {"model.layers.0.self_attn.v_proj.weight": torch.zeros(4, 4)}, tmp_path / "a.gguf"
        )
    with pytest.raises(ModelError, match="no GGUF tensor"):
        merge_into_gguf(base, {"lm.adapter.weight": torch.zeros(4, 4)}, tmp_path / "b.gguf")
    with pytest.raises(ModelError, match="delta"):
        merge_into_gguf(
            base, {"model.layers.0.self_attn.q_proj.weight": torch.zeros(8, 8)}, tmp_path / "c.gguf"
        )
    gpt2 = tmp_path / "gpt2.gguf"
    _tiny_gguf(gpt2, arch="gpt2")
    with pytest.raises(ModelError, match="not supported"):
        merge_into_gguf(gpt2, {}, tmp_path / "d.gguf")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    with pytest.raises(ModelError, match="not a readable GGUF"):
        merge_into_gguf(broken, {}, tmp_path / "e.gguf")
    assert not (tmp_path / "a.gguf").exists() and not (tmp_path / "c.gguf").exists()


# --- the engine on SmolLM2 and the shipped CAER adapters ----------------------------------------------------


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Responder, Responder]:
    """The shipped CAER responder twice: on llama.cpp (merged GGUF in a fresh cache) and on transformers."""
    if not llama_cpp_installed():
        if os.environ.get("EMOCAUSE_REQUIRE_LLAMA_CPP"):
            pytest.fail("llama-cpp-python is required here (EMOCAUSE_REQUIRE_LLAMA_CPP is set)")
        pytest.skip("llama-cpp-python is not installed")
    cache = tmp_path_factory.mktemp("gguf-cache")
    fast, reference = load_model("caer"), load_model("caer")
    fast.lm.engine = build_engine(fast.lm, 512, max_sequences=4, cache=cache)
    reference.prepare_inference("transformers")
    return fast, reference


MESSAGES = [
    ("I failed my driving test again after months of practice.", "sad"),
    ("My sister is finally coming home after two years abroad!", "excited"),
    ("Someone keyed my car in the parking lot last night.", "angry"),
    ("I have my first job interview tomorrow and I can't sleep.", "anxious"),
    ("My grandmother's old recipe book turned up in the attic.", "sentimental"),
]


def _engine(responder: Responder) -> LlamaCppEngine:
    engine = responder.lm.engine
    assert isinstance(engine, LlamaCppEngine)
    return engine


def _prompt(responder: Responder, message: int = 0) -> list[int]:
    text, emotion = MESSAGES[message]
    return responder.encode_prompt(ResponseInput([Turn("speaker", text)], None, emotion, text)).ids


@pytest.mark.slow
def test_merged_gguf_computes_what_the_adapted_model_computes(engines: tuple[Responder, Responder]) -> None:
    fast, reference = engines
    engine = _engine(fast)
    prompt = _prompt(fast)
    with torch.no_grad():
        adapted = reference.lm.model(torch.tensor([prompt])).logits[0, -1]
    merged = engine._prefill(0, prompt)
    base_logits = LlamaCppEngine(_base_gguf(), 512, max_sequences=1)._prefill(0, prompt)
    # The merged file follows the adapters: much closer to transformers' adapted logits than the base is.
    assert torch.dist(merged, adapted) < 0.5 * torch.dist(base_logits, adapted)
    assert int(merged.argmax()) == int(adapted.argmax())


def _base_gguf() -> Path:
    path = causal_lm_gguf()
    assert path is not None
    return path


@pytest.mark.slow
def test_llama_cpp_generation_follows_the_decoding_rules(engines: tuple[Responder, Responder]) -> None:
    fast, _ = engines
    engine = _engine(fast)
    prompt = _prompt(fast)
    eos = fast.lm.eos_id
    engine.held = [[] for _ in engine.held]  # forget what earlier tests left (the cache entries are unused)
    before = engine.tokens_evaluated
    first = engine.generate([prompt], DecodingConfig(max_new_tokens=12), eos)[0]
    # every reply token but a last one cut by the length cap is read back
    assert engine.tokens_evaluated - before == len(prompt) + len(first) - (len(first) == 12)
    before = engine.tokens_evaluated
    again = engine.generate([prompt], DecodingConfig(max_new_tokens=12), eos)[0]
    assert first == again and 0 < len(first) <= 12 and eos not in first
    # the cached prompt was not read again: only its last token, for the logits after it
    assert engine.tokens_evaluated - before == 1 + len(again) - (len(again) == 12)
    assert engine.generate([prompt], DecodingConfig(max_new_tokens=0), eos) == [[]]
    torch.manual_seed(0)
    sampled = engine.generate(
        [prompt], DecodingConfig(max_new_tokens=8, do_sample=True, temperature=1.5), eos
    )[0]
    assert 0 < len(sampled) <= 8 and eos not in sampled
    long = engine.generate([prompt], DecodingConfig(max_new_tokens=40, no_repeat_ngram_size=2), eos)[0]
    bigrams = list(itertools.pairwise(long))
    assert len(bigrams) == len(set(bigrams))
    with pytest.raises(ModelError, match="context"):
        engine.generate([prompt * 20], DecodingConfig(max_new_tokens=10), eos)


@pytest.mark.slow
def test_batched_generation_equals_one_at_a_time(engines: tuple[Responder, Responder]) -> None:
    fast, _ = engines
    engine = _engine(fast)
    prompts = [_prompt(fast, i) for i in range(len(MESSAGES))]  # five prompts on four sequences
    decoding = DecodingConfig(max_new_tokens=16)
    alone = [engine.generate([p], decoding, fast.lm.eos_id)[0] for p in prompts]
    before = engine.tokens_evaluated
    together = engine.generate(prompts, decoding, fast.lm.eos_id)
    # llama.cpp's kernels differ by batch size in the last bits, which may flip a late greedy choice
    assert sum(a == b for a, b in zip(alone, together, strict=True)) >= 4
    assert all(a[:4] == b[:4] for a, b in zip(alone, together, strict=True))
    # every prompt shares the instruction with what the cache holds: far fewer tokens are read than the prompts hold
    assert engine.tokens_evaluated - before < 0.5 * sum(len(p) for p in prompts) + sum(
        len(r) for r in together
    )
    assert len({tuple(r) for r in together}) > 1


@pytest.mark.slow
def test_responders_choose_their_engine(
    engines: tuple[Responder, Responder], tiny_models: dict[str, Path]
) -> None:
    fast, _ = engines
    message = [Turn("speaker", "My sister is finally coming home after two years abroad!")]
    assert fast.respond([ResponseInput(message, None, "excited", None)])[0].strip()
    ecg = Responder(ResponderConfig(lm=LMConfig(name=str(tiny_models["llama"]), lora_r=4), cause_bias=True))
    with pytest.raises(ModelError, match="ECG"):
        ecg.prepare_inference("llama.cpp")
    assert ecg.prepare_inference("auto") == "transformers"
    plain = Responder(ResponderConfig(lm=LMConfig(name=str(tiny_models["llama"]), lora_r=4)))
    with pytest.raises(ModelError, match="no GGUF file is known"):
        plain.prepare_inference("llama.cpp")
    with pytest.raises(ModelError, match="engine"):
        plain.prepare_inference("onnx")
