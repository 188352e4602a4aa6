"""llama.cpp inference for a LoRA-adapted causal LM whose base weights exist as a GGUF file.

The LoRA deltas are folded into a copy of the base GGUF once, cached under a hash of the deltas; every
tensor the adapters do not touch is copied byte for byte, so a quantized base stays quantized and the
merged model computes with the same base weights it was trained on (the offline SmolLM2 *is* the Q4_1
GGUF, dequantized). Decoding runs token by token through llama.cpp with transformers' own logits
processors (repetition penalty, no-repeat n-grams, temperature, top-p), so both engines follow the same
decoding rules; a prompt that begins like the previous one (the instruction) reuses llama.cpp's cached
keys and values for that beginning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import math
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from peft import PeftModel
from peft.tuners.lora import Linear as LoraLinear
from transformers import (
    LogitsProcessorList,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from emocause.errors import ModelError
from emocause.models.lm import AdaptedLM, DecodingConfig
from emocause.models.resolver import causal_lm_gguf
from emocause.settings import cache_dir

ENGINES = ("auto", "transformers", "llama.cpp")
# Architectures whose q/k projections llama.cpp's converter stores permuted (its rotary layout): their
# deltas get the same permutation. The others store every projection as transformers does.
_PERMUTED_QK = frozenset({"llama"})
_SUPPORTED = _PERMUTED_QK | {"qwen2", "qwen3"}


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    if field is not None:
        return field.contents()
    if default is None:
        raise ModelError(f"{reader.data.filename}: GGUF metadata {key!r} is missing")
    return default


def permute_qk(weight: np.ndarray, n_head: int) -> np.ndarray:
    """transformers' q/k layout to llama.cpp's (the inverse of transformers' `_reverse_permute_weights`)."""
    half = weight.shape[0] // n_head // 2
    return weight.reshape(n_head, 2, half, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def merge_into_gguf(base: Path, deltas: Mapping[str, torch.Tensor], out: Path) -> Path:
    """A copy of `base` with `deltas` (transformers parameter name -> W' - W) added to their tensors.

    Written to a temporary file and renamed into place, so `out` exists only complete.
    """
    import gguf
    from gguf.quants import dequantize

    try:
        reader = gguf.GGUFReader(base)
    except (OSError, ValueError) as error:
        raise ModelError(f"{base}: not a readable GGUF file ({error})") from error
    arch = str(_field(reader, "general.architecture"))
    if arch not in _SUPPORTED:
        raise ModelError(
            f"{base}: merging adapters into a {arch!r} GGUF is not supported ({sorted(_SUPPORTED)})"
        )
    n_blocks = int(_field(reader, f"{arch}.block_count"))
    n_head = int(_field(reader, f"{arch}.attention.head_count"))
    n_head_kv = int(_field(reader, f"{arch}.attention.head_count_kv", n_head))
    names = gguf.get_tensor_name_map({v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch], n_blocks)
    mapped: dict[str, np.ndarray] = {}
    for hf_name, delta in deltas.items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ModelError(f"{base}: no GGUF tensor corresponds to {hf_name}")
        array = delta.detach().float().numpy()
        if arch in _PERMUTED_QK and ".attn_q." in name:
            array = permute_qk(array, n_head)
        elif arch in _PERMUTED_QK and ".attn_k." in name:
            array = permute_qk(array, n_head_kv)
        mapped[name] = array
    missing = set(mapped) - {t.name for t in reader.tensors}
    if missing:
        raise ModelError(f"{base}: the adapters change tensors the GGUF does not hold: {sorted(missing)[:3]}")

    out.parent.mkdir(parents=True, exist_ok=True)
    handle, staging_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    staging = Path(staging_name)
    try:
        writer = gguf.GGUFWriter(staging, arch, endianess=reader.endianess)
        for field in reader.fields.values():
            if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
                continue  # written by GGUFWriter itself
            value_type = field.types[0]
            sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
        tensors: list[np.ndarray] = []
        for tensor in reader.tensors:
            if tensor.name in mapped:
                merged = dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
                if merged.shape != mapped[tensor.name].shape:
                    raise ModelError(
                        f"{base}: {tensor.name} is {merged.shape}, the adapter delta {mapped[tensor.name].shape}"
                    )
                merged += mapped[tensor.name]
                writer.add_tensor_info(tensor.name, merged.shape, merged.dtype, merged.nbytes)
                tensors.append(merged)
            else:
                data = tensor.data
                writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
                tensors.append(data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for data in tensors:
            writer.write_tensor_data(data, tensor_endianess=reader.endianess)
        writer.close()
        staging.rename(out)
    finally:
        staging.unlink(missing_ok=True)
    return out


def deltas_key(base: Path, deltas: Mapping[str, torch.Tensor]) -> str:
    """A name for the merged file: the base file's identity and the deltas' bytes."""
    digest = hashlib.sha256(f"{base.resolve()}:{base.stat().st_size}".encode())
    for name in sorted(deltas):
        digest.update(name.encode())
        digest.update(deltas[name].detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def decoding_processors(decoding: DecodingConfig) -> LogitsProcessorList:
    """The processors transformers' `generate` applies for these settings, in its order."""
    processors = LogitsProcessorList()
    if decoding.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(decoding.repetition_penalty))
    if decoding.no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGramLogitsProcessor(decoding.no_repeat_ngram_size))
    if decoding.do_sample:
        processors.append(TemperatureLogitsWarper(decoding.temperature))
        processors.append(TopPLogitsWarper(decoding.top_p))
    return processors


class LlamaCppEngine:
    """A llama.cpp model with one context that holds up to `max_sequences` sequences at once.

    A batch of prompts is decoded together, one llama.cpp call per step for all unfinished sequences. The
    sequences share one key/value cache, so a prompt that begins like one already held (the instruction every
    CAER prompt starts with) takes those states over instead of reading them again. Calls are serialised: a
    context is not thread-safe.
    """

    BATCH_TOKENS = 512

    def __init__(
        self, model_path: Path, sequence_tokens: int, max_sequences: int = 8, threads: int | None = None
    ):
        import llama_cpp

        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # llama.cpp's load chatter
        llama_cpp.llama_backend_init()
        threads = threads or len(os.sched_getaffinity(0))
        model = llama_cpp.llama_model_load_from_file(
            str(model_path).encode(), llama_cpp.llama_model_default_params()
        )
        if not model:
            raise ModelError(f"{model_path}: llama.cpp could not load it")
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = sequence_tokens * max_sequences
        params.n_batch = params.n_ubatch = self.BATCH_TOKENS
        params.n_seq_max = max_sequences
        params.kv_unified = True  # one cache for all sequences: a shared prefix is stored once
        params.n_threads = params.n_threads_batch = threads
        context = llama_cpp.llama_init_from_model(model, params)
        if not context:
            llama_cpp.llama_model_free(model)
            raise ModelError(f"{model_path}: llama.cpp could not create a context of {params.n_ctx} tokens")
        self._api = llama_cpp
        self._model, self._context = model, context
        self._memory = llama_cpp.llama_get_memory(context)
        self._batch = llama_cpp.llama_batch_init(self.BATCH_TOKENS, 0, 1)
        weakref.finalize(self, _free, llama_cpp, self._batch, context, model)
        self.model_path = model_path
        self.sequence_tokens = sequence_tokens
        self.max_sequences = max_sequences
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model)))
        self.held: list[list[int]] = [[] for _ in range(max_sequences)]
        """The tokens whose states each sequence holds in the cache."""
        self.tokens_evaluated = 0
        self._lock = threading.Lock()

    def _decode(self, entries: Sequence[tuple[int, int, int, bool]]) -> None:
        """One llama.cpp call for (token, position, sequence, wants logits) entries."""
        batch = self._batch
        batch.n_tokens = len(entries)
        for k, (token, position, sequence, logits) in enumerate(entries):
            batch.token[k], batch.pos[k], batch.n_seq_id[k] = token, position, 1
            batch.seq_id[k][0] = sequence
            batch.logits[k] = logits
        if self._api.llama_decode(self._context, batch) != 0:
            raise ModelError("llama.cpp could not decode the batch (its cache is full)")
        self.tokens_evaluated += len(entries)

    def _logits(self, index: int) -> torch.Tensor:
        """The logits of the batch entry `index` (copied: the next decode overwrites them)."""
        pointer = self._api.llama_get_logits_ith(self._context, index)
        return torch.from_numpy(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())

    def _prefill(self, sequence: int, prompt: Sequence[int]) -> torch.Tensor:
        """Put `prompt` into `sequence`, taking over the longest beginning any sequence holds; the logits after it."""
        shared, source = 0, sequence
        for other, held in enumerate(self.held):
            n = 0
            limit = min(len(held), len(prompt) - 1)  # at least one token is read, for its logits
            while n < limit and held[n] == prompt[n]:
                n += 1
            if n > shared or (n == shared and other == sequence):
                shared, source = n, other
        self._api.llama_memory_seq_rm(self._memory, sequence, shared if source == sequence else 0, -1)
        if source != sequence and shared:
            self._api.llama_memory_seq_cp(self._memory, source, sequence, 0, shared)
        self.held[sequence] = list(prompt[:shared])
        rest = list(prompt[shared:])
        for start in range(0, len(rest), self.BATCH_TOKENS):
            chunk = rest[start : start + self.BATCH_TOKENS]
            last = start + len(chunk) == len(rest)
            self._decode(
                [(t, shared + start + k, sequence, last and k == len(chunk) - 1) for k, t in enumerate(chunk)]
            )
            self.held[sequence] += chunk
        return self._logits(len(chunk) - 1)

    def generate(
        self, prompts: Sequence[Sequence[int]], decoding: DecodingConfig, eos_id: int
    ) -> list[list[int]]:
        """New token ids per prompt, stopped at `eos_id` (not returned); `max_sequences` prompts at a time."""
        for prompt in prompts:
            if not prompt:
                raise ModelError("llama.cpp generation needs a non-empty prompt")
            if len(prompt) + decoding.max_new_tokens > self.sequence_tokens:
                raise ModelError(
                    f"prompt of {len(prompt)} tokens + {decoding.max_new_tokens} new exceeds the context of "
                    f"{self.sequence_tokens} tokens per sequence"
                )
        replies: list[list[int]] = []
        if decoding.max_new_tokens <= 0:
            return [[] for _ in prompts]
        with self._lock:
            for start in range(0, len(prompts), self.max_sequences):
                replies += self._generate_together(
                    prompts[start : start + self.max_sequences], decoding, eos_id
                )
        return replies

    def _generate_together(
        self, prompts: Sequence[Sequence[int]], decoding: DecodingConfig, eos_id: int
    ) -> list[list[int]]:
        processors = decoding_processors(decoding)
        stop_at = time.monotonic() + decoding.max_seconds if decoding.max_seconds is not None else math.inf
        logits = {i: self._prefill(i, prompt) for i, prompt in enumerate(prompts)}
        new: list[list[int]] = [[] for _ in prompts]
        while logits and time.monotonic() < stop_at:
            step = []
            for i, row in logits.items():
                ids = cast(torch.LongTensor, torch.tensor([self.held[i]]))  # the prompt and the reply so far
                scores = processors(ids, row[None])
                if decoding.do_sample:
                    token = int(torch.multinomial(scores.softmax(-1), 1)[0, 0])
                else:
                    token = int(scores.argmax(-1)[0])
                if token == eos_id:
                    continue
                new[i].append(token)
                if len(new[i]) < decoding.max_new_tokens:
                    step.append((i, token))
            if not step:
                break
            self._decode([(token, len(self.held[i]), i, True) for i, token in step])
            logits = {}
            for k, (i, token) in enumerate(step):
                self.held[i].append(token)
                logits[i] = self._logits(k)
        return new


def _free(api: Any, batch: Any, context: Any, model: Any) -> None:
    api.llama_batch_free(batch)
    api.llama_free(context)
    api.llama_model_free(model)


def lora_deltas(lm: AdaptedLM) -> dict[str, torch.Tensor]:
    """transformers weight name -> what the LoRA adapters add to it ({} for a frozen LM)."""
    if not isinstance(lm.model, PeftModel):
        if any(p.requires_grad for p in lm.model.parameters()):
            raise ModelError("a fully fine-tuned LM has no adapters to merge into its base GGUF")
        return {}
    deltas = {}
    for name, module in lm.model.get_base_model().named_modules():
        if isinstance(module, LoraLinear):
            if any(module.use_dora.values()):
                raise ModelError("DoRA adapters cannot be merged into a GGUF as plain deltas")
            deltas[f"{name}.weight"] = module.get_delta_weight(module.active_adapters[0])
    return deltas


def build_engine(
    lm: AdaptedLM,
    sequence_tokens: int,
    max_sequences: int = 8,
    gguf: Path | None = None,
    cache: Path | None = None,
) -> LlamaCppEngine:
    """A llama.cpp engine running `lm` (its adapters merged into `gguf`, by default the GGUF its base came
    from) on up to `max_sequences` sequences of `sequence_tokens`; the merged file is made once under
    `cache_dir(cache)/gguf/`. Errors say why it cannot run."""
    if not llama_cpp_installed():
        raise ModelError("llama-cpp-python is not installed (bash scripts/setup.sh installs it)")
    base = gguf or causal_lm_gguf(lm.config.name)
    if base is None:
        raise ModelError(f"no GGUF file is known for {lm.config.name}; pass the base model's GGUF")
    if not base.is_file():
        raise ModelError(f"{base}: no such GGUF file")
    deltas = lora_deltas(lm)
    path = base
    if deltas:
        path = cache_dir(cache) / "gguf" / f"{base.stem}-{deltas_key(base, deltas)}.gguf"
        if not path.is_file():
            merge_into_gguf(base, deltas, path)
    return LlamaCppEngine(path, sequence_tokens, max_sequences)
