"""`emocause train METHOD`: train a method from a YAML recipe, with progress, checkpoints and resume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from emocause.cli import app
from emocause.config import load_config, to_yaml
from emocause.training.recipes import RECIPES, builtin_config, get_recipe, parse_overrides


@app.command("train")
def train(
    method: Annotated[str, typer.Argument(help=f"One of: {', '.join(sorted(RECIPES))}.")],
    run_dir: Annotated[
        Path, typer.Option("--run-dir", "-o", help="Folder for checkpoints, log and best/ model.")
    ],
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="YAML recipe, or a packaged one by name (emotion-ed)."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override one field: key=value, dotted for nested (train.epochs=1)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in RUN_DIR from its last checkpoint.")
    ] = False,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the datasets.")
    ] = None,
) -> None:
    """Train METHOD; the best model on validation ends in RUN_DIR/best (load it by that path)."""
    recipe = get_recipe(method)
    settings: Any = load_config(
        recipe.config, builtin_config(config) if config else None, parse_overrides(overrides or [])
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "recipe.yaml").write_text(f"# emocause train {method}\n" + to_yaml(settings), encoding="utf-8")
    result = recipe.train(settings, run_dir, resume=resume, data_root=data_root)
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in result.best_metrics.items())
    Console().print(
        f"best on validation: {metrics}; {result.steps} steps in {result.seconds:.0f} s; model in {result.best_folder}"
    )
