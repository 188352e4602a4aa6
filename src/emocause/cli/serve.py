"""`emocause serve` (the HTTP service and its web page) and `emocause chat` (a terminal conversation)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from emocause.cli import app
from emocause.cli.analyze import DataRoot, Dtype, Engine, KnowledgeOpt, MechanismsOpt, product_pipeline
from emocause.cli.render import render_analysis, response_notes
from emocause.data.schema import Turn
from emocause.errors import EmocauseError
from emocause.pipeline.analyze import DEFAULT_MODELS
from emocause.pipeline.dialogue_input import MAX_CHARACTERS, MAX_TURNS
from emocause.pipeline.respond import DEFAULT_MECHANISMS, DEFAULT_RESPONDER

Responder = Annotated[str, typer.Option("--responder", help="Responder: shipped name or run folder.")]
CauseTurns = Annotated[
    str, typer.Option("--cause-turns-model", help="Utterance-cause model; 'none' to skip (faster).")
]


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    responder: Responder = DEFAULT_RESPONDER,
    cause_turns_model: CauseTurns = DEFAULT_MODELS["cause_turns"],
    max_batch: Annotated[int, typer.Option(min=1, max=64, help="Dialogues per model batch.")] = 8,
    batch_wait_ms: Annotated[
        float, typer.Option(min=0, help="How long a batch waits for more requests.")
    ] = 15.0,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds before a request gets 504.")] = 120.0,
    max_queue: Annotated[
        int, typer.Option(min=1, help="Requests waiting for the models; one more gets 503 with Retry-After.")
    ] = 64,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="EMOCAUSE_API_KEY",
            help="Require `Authorization: Bearer KEY` on /v1/*; needed to listen beyond localhost.",
        ),
    ] = None,
    exit_when_stuck: Annotated[
        bool,
        typer.Option(help="Exit (status 70) when the model worker is stuck, for a supervisor to restart."),
    ] = False,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Host header values accepted besides localhost and --host (repeatable; '*' for any)."
        ),
    ] = None,
    dtype: Dtype = "float32",
    engine: Engine = "auto",
    mechanisms_model: MechanismsOpt = DEFAULT_MECHANISMS,
    knowledge: KnowledgeOpt = "none",
    data_root: DataRoot = None,
    lm: Annotated[
        str | None,
        typer.Option(
            "--lm",
            help="Serve this causal LM (hub id or folder) as a plain OpenAI-compatible chat-completions "
            "server instead of the empathy service, e.g. for `emocause ecdd run --base-url`.",
        ),
    ] = None,
) -> None:
    """Serve /v1/respond, /v1/analyze, /v1/chat/completions, /healthz, /metrics and the chat page at /."""
    import uvicorn

    from emocause.service.app import LOCAL_HOSTS, ServiceConfig, create_app

    if lm is not None:
        from emocause.models.chat import LocalChatBackend
        from emocause.service.lm_app import create_lm_app

        backend = LocalChatBackend(lm, max_batch=max_batch, batch_wait_ms=batch_wait_ms, dtype=dtype)
        uvicorn.run(create_lm_app(backend, request_timeout_s=timeout), host=host, port=port)
        return
    if host not in LOCAL_HOSTS and not api_key:
        raise EmocauseError(
            f"--host {host} serves beyond this machine: set --api-key (or EMOCAUSE_API_KEY) so that not anyone "
            "who can reach it can use it"
        )
    config = ServiceConfig(
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        request_timeout_s=timeout,
        max_queue=max_queue,
        api_key=api_key,
        allowed_hosts=[*LOCAL_HOSTS, host, *(allowed_host or [])],
    )
    uvicorn.run(
        create_app(
            product_pipeline(
                responder, cause_turns_model, dtype, engine, mechanisms_model, knowledge, data_root
            ),
            config,
            on_stuck=_exit_stuck if exit_when_stuck else None,
        ),
        host=host,
        port=port,
        timeout_graceful_shutdown=10,  # requests are bounded; a stop never waits on a stuck client
    )


def _exit_stuck(seconds: float) -> None:
    import os
    import sys

    print(
        f"emocause serve: the model worker has been stuck for {seconds:.0f} s; exiting for a restart",
        file=sys.stderr,
    )
    os._exit(70)  # the stuck thread would block a normal exit


@app.command("chat")
def chat(
    responder: Responder = DEFAULT_RESPONDER,
    cause_turns_model: CauseTurns = DEFAULT_MODELS["cause_turns"],
    dtype: Dtype = "float32",
    engine: Engine = "auto",
    mechanisms_model: MechanismsOpt = DEFAULT_MECHANISMS,
    knowledge: KnowledgeOpt = "none",
    data_root: DataRoot = None,
) -> None:
    """Talk in the terminal; under each of your turns, its emotions and highlighted causes. Empty line or Ctrl-D ends."""
    console = Console()
    console.print("[dim]loading the models...[/]")
    pipeline = product_pipeline(
        responder, cause_turns_model, dtype, engine, mechanisms_model, knowledge, data_root
    )
    turns: list[Turn] = []
    console.print("[dim]Tell me what happened. An empty line or Ctrl-D ends the chat.[/]")
    while True:
        try:
            text = console.input("[bold cyan]you> [/]").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not text:
            break
        if len(text) > MAX_CHARACTERS:
            console.print(f"[red]that message is over {MAX_CHARACTERS} characters; please shorten it[/]")
            continue
        turns = [*turns, Turn("speaker", text)][-(MAX_TURNS - 1) :]
        try:
            response = pipeline(turns)
        except EmocauseError as error:
            console.print(f"[red]{error}[/]")
            turns.pop()
            continue
        console.print(render_analysis(turns, response.analysis))
        console.print(f"[bold magenta]listener> [/]{response.reply}")
        for note in response_notes(response):
            console.print(note)
        turns.append(Turn("listener", response.reply))
