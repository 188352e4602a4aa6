from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from ecdd_script import serving
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig

from emocause.models.resolver import DEFAULT_LM, resolve_causal_lm_path
from emocause.settings import data_root

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The shared data root; tests on real files skip where a machine does not have it."""
    root = data_root()
    if not (root / "empathetic_dialogues").is_dir():
        pytest.skip(f"real datasets not found under {root} (set EMOCAUSE_DATA)")
    return root


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def _tiny_folder(root: Path, architecture: str) -> Path:
    source = Path(resolve_causal_lm_path(DEFAULT_LM))
    folder = root / architecture
    torch.manual_seed(0)
    vocab = 49_152
    config = (
        LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                    tie_word_embeddings=True, eos_token_id=2, pad_token_id=2, bos_token_id=1, initializer_range=0.5)
        if architecture == "llama"
        else GPT2Config(vocab_size=vocab, n_embd=16, n_layer=3, n_head=4, n_positions=512,
                        eos_token_id=2, pad_token_id=2, bos_token_id=1, initializer_range=0.5)
    )  # fmt: skip
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(source / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-lms")
    return {arch: _tiny_folder(root, arch) for arch in ("llama", "gpt2")}


@contextmanager
def running_server(app: Any) -> Iterator[str]:
    """`app` on a real uvicorn server on localhost, for the block's duration; yields its base URL."""
    with serving(app) as url:
        yield url.removesuffix("/v1")


@pytest.fixture(scope="session")
def tiny_responder(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A responder on a tiny random Llama: gibberish replies through every real code path."""
    from emocause.models.caer import PromptConfig
    from emocause.models.lm import LMConfig
    from emocause.models.responder import Responder, ResponderConfig

    lm = LMConfig(name=str(tiny_models["llama"]), lora_r=-1)
    return Responder(ResponderConfig(lm=lm, prompt=PromptConfig())).save(tmp_path_factory.mktemp("tiny") / "r")
