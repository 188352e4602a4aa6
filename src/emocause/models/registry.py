"""Trained models by name: a shipped default (`emotion-ed`, `ece`, ...) or any run folder (`runs/x/best`)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from emocause.errors import ModelError
from emocause.models.cee import CauseUtteranceModel
from emocause.models.ece import ECEModel
from emocause.models.ecore import ECORE
from emocause.models.emotion import EmotionClassifier
from emocause.models.empathy_cause import EmpathyCauseModel
from emocause.models.encoder import read_card
from emocause.models.imagine import Imagine
from emocause.models.mechanisms import MechanismClassifier
from emocause.models.moel import MoEL
from emocause.models.responder import Responder
from emocause.models.scratch import MultiTRS, ScratchGenerator
from emocause.models.screen import ScreenClassifier

METHODS: dict[str, Any] = {
    "emotion": EmotionClassifier,
    "ece": ECEModel,
    "cee": CauseUtteranceModel,
    "empathy_cause": EmpathyCauseModel,
    "mechanisms": MechanismClassifier,
    "responder": Responder,
    "screen": ScreenClassifier,
    "transformer": ScratchGenerator,
    "multitrs": MultiTRS,
    "moel": MoEL,
    "ecore": ECORE,
    "imagine": Imagine,
}


def pretrained_folder() -> Path:
    return Path(str(files("emocause") / "pretrained"))


def shipped_models() -> list[str]:
    folder = pretrained_folder()
    return sorted(p.name for p in folder.iterdir() if (p / "model.json").is_file()) if folder.is_dir() else []


def resolve_model(name_or_path: str | Path) -> Path:
    """A run folder as given, or a shipped default by name."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    shipped = pretrained_folder() / str(name_or_path)
    if shipped.is_dir():
        return shipped
    raise ModelError(
        f"no trained model {str(name_or_path)!r}: not a folder, and the shipped ones are {shipped_models()}"
    )


def load_model(name_or_path: str | Path) -> Any:
    """Load any trained emocause model; its `model.json` says which class it is."""
    folder = resolve_model(name_or_path)
    method = read_card(folder)["method"]
    if method not in METHODS:
        raise ModelError(f"{folder}: unknown method {method!r}; known: {sorted(METHODS)}")
    return METHODS[method].load(folder)
