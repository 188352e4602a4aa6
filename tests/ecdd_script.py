"""A scripted chat model for EC-DD tests: answers each stage's prompt the way a capable LLM would, so the
pipeline's logic (parsing, filters, labels, files) is tested without a real model; and an OpenAI-compatible
HTTP server around it, run on localhost by the tests that need a real server."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from emocause.models.chat import Completion, GenerationOptions, Message


def scripted_answer(messages: Sequence[Message]) -> str:
    prompt = messages[-1]["content"]
    if "expand this sentence" in prompt:
        sentence = prompt.split(":", 1)[1].splitlines()[0].strip()
        return f"{sentence} It had been on their mind all week."
    if "In the scene" in prompt:
        name, friend = re.search(r"dialogue between (\w+) and (\w+)", prompt).groups()  # type: ignore[union-attr]
        cause = re.search(r"because (.+?)\.\n", prompt)[1]  # type: ignore[index]
        rude = " You are an idiot." if "insults" in cause else ""
        return (
            f"Here is the dialogue.\n{name} (sighing): I can't stop thinking about it. {cause} today.\n"
            f"{friend}: Oh wow, tell me more!{rude}\n{name}: *smiles* It means a lot to me.\n"
            f"It really does.\n{friend}: I'm glad you told me.\nNarrator: They hug."
        )
    if "1.Emotion" in prompt:
        lines = (
            prompt.split("Conversation content:", 1)[1]
            .split("Emotional description:")[0]
            .strip()
            .splitlines()
        )
        first = lines[0].split(": ", 1)[1]
        third = lines[2].split(": ", 1)[1]
        return f'Emotion: "{first.split(". ")[0]}."\nCause: {third}'
    if "Rate how reasonable" in prompt:
        return (
            "Score: 4\nReasoning: The labels fit.\nBetter emotion sentence: null\nBetter cause sentence: null"
        )
    if "Classify the emotion word" in prompt:
        word = re.search(r'word "(.+?)"', prompt)[1]  # type: ignore[index]
        return {"mellowish": "Relaxed.", "blorft": "I am not sure."}.get(word, "neutral")
    raise AssertionError(f"unexpected prompt: {prompt[:200]}")


class ScriptedBackend:
    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, messages: Sequence[Message], options: GenerationOptions) -> Completion:
        self.calls += 1
        await asyncio.sleep(0)
        text = scripted_answer(messages)
        return Completion(text, sum(len(m["content"].split()) for m in messages), len(text.split()))

    async def aclose(self) -> None:
        pass


def scripted_app(delay_s: float) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(delay_s)
        text = scripted_answer(body["messages"])
        return {
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }  # fmt: skip

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` on a free localhost port in a thread; yields its base URL (with /v1)."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(30)
