"""A plain OpenAI-compatible chat-completions server for a local causal LM (`emocause serve --lm NAME`).

Unlike the empathy service it answers any prompt with the LM itself, so EC-DD (or any OpenAI client) can
use a model on this machine over HTTP. Concurrent requests share generation passes through the backend's
batcher. `POST /v1/chat/completions` (no streaming), `GET /v1/models`, `GET /healthz`; errors are OpenAI's
`{"error": {"message", "type", "param", "code"}}` (`service/errors.py`) with a 4xx status.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from emocause.errors import EmocauseError
from emocause.models.chat import GenerationOptions, LocalChatBackend
from emocause.service.errors import openai_error


class LMMessage(BaseModel):
    role: str
    content: str


class LMChatRequest(BaseModel):
    model: str | None = None
    messages: list[LMMessage]
    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2048)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float = Field(default=0.9, gt=0, le=1)
    stream: bool = False


def create_lm_app(backend: LocalChatBackend, *, request_timeout_s: float = 300.0) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(backend.load)
        yield
        await backend.aclose()

    app = FastAPI(title="emocause LM", description=f"OpenAI-compatible chat completions by {backend.name}",
                  lifespan=lifespan)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        if first.get("type") == "json_invalid":
            return openai_error(400, "the body is not valid JSON")
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return openai_error(400, f"{where or 'body'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(EmocauseError)
    async def user_error(_: Request, error: EmocauseError) -> JSONResponse:
        return openai_error(400, str(error))

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat completion by the local LM")
    async def chat_completions(body: LMChatRequest) -> Any:
        if body.stream:
            return openai_error(400, "stream=true is not supported; ask without streaming")
        options = GenerationOptions(body.max_completion_tokens or body.max_tokens or 256, body.temperature,
                                    body.top_p)  # fmt: skip
        messages = [{"role": m.role, "content": m.content} for m in body.messages]
        try:
            completion = await asyncio.wait_for(backend.complete(messages, options), request_timeout_s)
        except TimeoutError:
            return openai_error(504, f"no answer within {request_timeout_s} s", "timeout")
        finish = "length" if completion.completion_tokens >= options.max_tokens else "stop"
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": backend.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
                      "total_tokens": completion.prompt_tokens + completion.completion_tokens},
        }  # fmt: skip

    @app.get("/v1/models", summary="The served model")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": backend.name, "object": "model", "owned_by": "emocause"}]}

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "model": backend.name}

    return app
