"""`emocause knowledge` and `emocause mechanisms`: IMAGINE's components on their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from emocause.cli import app
from emocause.errors import EmocauseError
from emocause.resources.commonsense import GROUP_OF, RELATIONS


@app.command("knowledge")
def knowledge(
    text: Annotated[
        str | None, typer.Argument(help='An event or utterance: "PersonX lost their job".')
    ] = None,
    source: Annotated[
        str,
        typer.Option("--source", help="retrieval, generation (the offline chat LM) or comet:PATH_OR_HUB_ID."),
    ] = "retrieval",
    relations: Annotated[
        list[str] | None,
        typer.Option("--relation", "-r", help=f"Only these relations (of {', '.join(RELATIONS)})."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {relation: [inferences]} as JSON.")] = False,
    precompute: Annotated[
        str | None,
        typer.Option(
            "--precompute",
            help="Instead of TEXT: fill IMAGINE's feature cache (causes, knowledge, mechanisms) for this split "
            "of the recipe's dataset; resumable.",
        ),
    ] = None,
    config: Annotated[
        str, typer.Option("--config", "-c", help="IMAGINE recipe (for --precompute).")
    ] = "imagine-ed",
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Folder holding the datasets.")
    ] = None,
) -> None:
    """Commonsense inferences for TEXT, five per relation, in IMAGINE's four groups."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if precompute is not None:
        if text is not None:
            raise EmocauseError("give TEXT or --precompute SPLIT, not both")
        _precompute(config, precompute, data_root)
        return
    if not text or not text.strip():
        raise EmocauseError("give a TEXT (an event or an utterance), or --precompute SPLIT")
    from emocause.models.knowledge import knowledge_source

    chosen = relations or list(RELATIONS)
    (inferred,) = knowledge_source(source, data_root).infer([text.strip()], chosen)
    if as_json:
        typer.echo(json.dumps(inferred, indent=2))
        return
    table = Table("group", "relation", "inferences", title=text.strip())
    for relation in chosen:
        table.add_row(GROUP_OF[relation], relation, "; ".join(inferred[relation]) or "-")
    Console().print(table)


def _precompute(config: str, split: str, data_root: Path | None) -> None:
    from emocause.config import load_config
    from emocause.training.imagine import attach_features
    from emocause.training.loop import sampled
    from emocause.training.recipes import builtin_config
    from emocause.training.scratch import ImagineRecipe, scratch_examples

    recipe = load_config(ImagineRecipe, builtin_config(config), {})
    examples = scratch_examples(recipe.dataset, split, recipe.replies, data_root)
    # The same examples training samples (its caps and seeds), so training then finds them all cached.
    if split == recipe.train_split:
        examples = sampled(examples, recipe.train, "train")
    elif split == recipe.valid_split:
        examples = sampled(examples, recipe.train, "valid")
    with_mechanisms = split in (recipe.train_split, recipe.valid_split)
    attach_features(
        examples,
        recipe.model.features,
        recipe.dataset,
        split,
        mechanisms=with_mechanisms,
        data_root=data_root,
    )
    found = sum(1 for x in examples if x.cause_turns)
    Console().print(
        f"{len(examples):,} examples of {recipe.dataset}/{split}: features cached; {found:,} with causes found"
    )


@app.command("mechanisms")
def mechanisms(
    response: Annotated[str, typer.Option("--response", help="The reply to classify.")],
    post: Annotated[str, typer.Option("--post", help="What the reply answers (the seeker's post).")] = "",
    model: Annotated[str, typer.Option("--model", help="Shipped name or run folder.")] = "mechanisms",
    as_json: Annotated[bool, typer.Option("--json", help="Print {mechanism: probability} as JSON.")] = False,
) -> None:
    """Which communication mechanisms a reply uses: Emotional Reaction, Interpretation, Exploration."""
    if not response.strip():
        raise EmocauseError("--response is empty")
    from transformers.utils import logging as transformers_logging

    from emocause.models.mechanisms import SHORT_NAMES, MechanismClassifier
    from emocause.training.imagine import load_typed

    transformers_logging.disable_progress_bar()
    classifier = load_typed(model, MechanismClassifier, "a communication-mechanism classifier")
    (probabilities,) = classifier.predict([(post.strip(), response.strip())])
    if as_json:
        typer.echo(json.dumps(probabilities, indent=2))
        return
    table = Table("mechanism", "probability", "uses it")
    for name, p in probabilities.items():
        used = "yes" if p >= classifier.config.threshold else "no"
        table.add_row(f"{name.replace('_', ' ')} ({SHORT_NAMES[name]})", f"{p:.2f}", used)
    Console().print(table)
