"""Every trainable method by name: its recipe dataclass and the function that trains it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from emocause.errors import ConfigError
from emocause.training.cee import CEERecipe, train_cee
from emocause.training.ece import ECERecipe, train_ece
from emocause.training.emotion import EmotionRecipe, train_emotion
from emocause.training.empathy_cause import EmpathyCauseRecipe, train_empathy_cause
from emocause.training.generation import ResponderRecipe, train_responder
from emocause.training.loop import FitResult
from emocause.training.mechanisms import MechanismRecipe, train_mechanisms
from emocause.training.scratch import GENERATORS, TRAINERS
from emocause.training.screen import ScreenRecipe, train_screen


@dataclass(frozen=True)
class Recipe:
    config: type
    train: Callable[..., FitResult]
    summary: str


RECIPES: dict[str, Recipe] = {
    "empathy_cause": Recipe(
        EmpathyCauseRecipe, train_empathy_cause, "post sentences that caused a reply's empathy"
    ),
    "emotion": Recipe(EmotionRecipe, train_emotion, "emotion classifier over the dialogue context"),
    "cee": Recipe(CEERecipe, train_cee, "utterance-level causes (RECCON causal emotion entailment)"),
    "ece": Recipe(ECERecipe, train_ece, "word-level emotion-cause extractor, semi-supervised"),
    "mechanisms": Recipe(
        MechanismRecipe, train_mechanisms, "communication mechanisms of a reply (EPITOME: ER, IP, EX)"
    ),
    "responder": Recipe(
        ResponderRecipe, train_responder, "empathetic reply generator: CAER, ECG, ablations, plain fine-tune"
    ),
    "screen": Recipe(
        ScreenRecipe, train_screen, "safety screen: risk of the user's messages, or unsafe replies (written sets)"
    ),
    **{name: Recipe(config, TRAINERS[name], summary) for name, (config, _, summary) in GENERATORS.items()},
}


def get_recipe(method: str) -> Recipe:
    if method not in RECIPES:
        raise ConfigError(f"unknown method {method!r}; methods: {', '.join(sorted(RECIPES))}")
    return RECIPES[method]


def builtin_config(name_or_path: str) -> Path:
    """A YAML recipe path as given, or one of the packaged recipes (`emotion-ed`) by name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    packaged = Path(str(files("emocause") / "configs" / f"{name_or_path}.yaml"))
    if not packaged.is_file():
        known = sorted(p.stem for p in Path(str(files("emocause") / "configs")).glob("*.yaml"))
        raise ConfigError(f"no config {name_or_path!r}: not a file, and packaged configs are {known}")
    return packaged


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs (dotted keys reach nested configs); values are read as YAML scalars."""
    import yaml

    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {pair!r} is not key=value")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides
