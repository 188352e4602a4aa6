from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from emocause.config import load_config, to_yaml
from emocause.errors import ConfigError


@dataclass
class Optim:
    lr: float = 1e-4
    schedule: Literal["noam", "constant"] = "noam"


@dataclass
class Recipe:
    name: str
    epochs: int = 3
    layers: list[int] = field(default_factory=lambda: [1, 2])
    out: Path | None = None
    optim: Optim = field(default_factory=Optim)


def test_defaults_then_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: tiny\nepochs: 5\noptim:\n  lr: 1\n  schedule: constant\nout: runs/x\n")
    config = load_config(Recipe, path, {"epochs": 7})
    assert config == Recipe(
        name="tiny", epochs=7, out=Path("runs/x"), optim=Optim(lr=1.0, schedule="constant")
    )
    assert load_config(Recipe, tmp_path / "r.yaml") == load_config(
        Recipe, _roundtrip(tmp_path, load_config(Recipe, path))
    )


def _roundtrip(tmp_path: Path, config: Recipe) -> Path:
    out = tmp_path / "again.yaml"
    out.write_text(to_yaml(config))
    return out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: a\nepoch: 3\n", "unknown key(s) ['epoch']"),
        ("name: a\nepochs: three\n", "config.*epochs: expected int, got 'three'|epochs: expected int"),
        ("name: a\noptim: {schedule: cosine}\n", "'cosine' is not one of ['noam', 'constant']"),
        ("epochs: 1\n", "missing 1 required positional argument: 'name'"),
        ("- just\n- a list\n", "expected a mapping"),
        ("name: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_recipes_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as excinfo:
        load_config(Recipe, path)
    assert any(part in str(excinfo.value) for part in message.split("|")) or pytest.fail(str(excinfo.value))
    assert str(path) in str(excinfo.value)


def test_missing_recipe(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Recipe, tmp_path / "none.yaml")


def test_packaged_training_recipes_load() -> None:
    from importlib.resources import files

    from emocause.config import load_config
    from emocause.errors import ConfigError
    from emocause.training.recipes import builtin_config, get_recipe, parse_overrides

    method_of = {
        "emotion": "emotion",
        "ece": "ece",
        "cee": "cee",
        "empathy": "empathy_cause",
        "caer": "responder",
        "ecg": "responder",
        "risk": "screen",
        "reply": "screen",
        **{name: name for name in ("transformer", "multitrs", "moel", "ecore", "imagine", "mechanisms")},
    }
    packaged = sorted(Path(str(files("emocause") / "configs")).glob("*.yaml"))
    assert len(packaged) >= 5
    for path in packaged:
        recipe = get_recipe(method_of[path.stem.split("-")[0]])
        settings = load_config(recipe.config, builtin_config(path.stem), parse_overrides(["train.epochs=1"]))
        assert settings.train.epochs == 1 and settings.train.batch_size > 0  # the override kept its siblings
    with pytest.raises(ConfigError, match="packaged configs are"):
        builtin_config("no-such-recipe")
    with pytest.raises(ConfigError, match="not key=value"):
        parse_overrides(["epochs"])
    with pytest.raises(ConfigError, match="unknown method"):
        get_recipe("gpt")
