"""The HTTP service: `POST /v1/respond`, `POST /v1/analyze`, an OpenAI-compatible `POST /v1/chat/completions`,
`GET /healthz`, Prometheus `GET /metrics`, the chat page at `/`, and the OpenAPI schema at `/openapi.json`.

Requests from all clients go through one `Batcher`: it gathers what arrives within `batch_wait_ms` (up to
`max_batch` dialogues) and runs them as one batch on a single worker thread, so the models are never used
from two threads at once and concurrent clients share each generation pass. Every user error is a 4xx with
a JSON `{"error": message}`; the server stays up whatever the body.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from importlib.resources import files
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from emocause.data.schema import Turn
from emocause.errors import EmocauseError
from emocause.pipeline.dialogue_input import parse_dialogue
from emocause.pipeline.respond import EmpathyPipeline

Kind = Literal["respond", "analyze"]


@dataclass
class ServiceConfig:
    max_body_bytes: int = 64_000
    max_batch: int = 8
    batch_wait_ms: float = 15.0
    request_timeout_s: float = 120.0
    model_name: str = "emocause-default"


class DialogueRequest(BaseModel):
    dialogue: Any = Field(
        description='A message, a list of turns (speaker first, alternating), [{"role", "text"}], or {"turns": [...]}',
        examples=[["My dog died this morning and I can't stop crying."]],
    )


class ChatMessage(BaseModel):
    role: str
    content: Any


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[ChatMessage]
    stream: bool = False


class _Pending:
    def __init__(self, kind: Kind, turns: list[Turn]):
        self.kind = kind
        self.turns = turns
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


class Batcher:
    """Gathers concurrent requests into batches for one worker thread."""

    def __init__(self, pipeline: EmpathyPipeline, config: ServiceConfig, on_batch: Callable[[int], None]):
        self.pipeline = pipeline
        self.config = config
        self.on_batch = on_batch
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.worker:
            self.worker.cancel()

    async def submit(self, kind: Kind, turns: list[Turn]) -> Any:
        pending = _Pending(kind, turns)
        await self.queue.put(pending)
        return await pending.future

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            deadline = time.monotonic() + self.config.batch_wait_ms / 1000
            while len(batch) < self.config.max_batch:
                try:
                    batch.append(
                        await asyncio.wait_for(self.queue.get(), max(deadline - time.monotonic(), 0))
                    )
                except TimeoutError:
                    break
            batch = [p for p in batch if not p.future.done()]  # timed-out requests are not worked on
            if not batch:
                continue
            self.on_batch(len(batch))
            try:
                results = await asyncio.to_thread(self._work, batch)
            except Exception as error:  # noqa: BLE001 -- one bad batch must not stop the worker; callers get the error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(error)
                continue
            for pending, result in zip(batch, results, strict=True):
                if not pending.future.done():
                    pending.future.set_result(result)

    def _work(self, batch: Sequence[_Pending]) -> list[Any]:
        respond = [p for p in batch if p.kind == "respond"]
        responses = iter(self.pipeline.batch([p.turns for p in respond]) if respond else [])
        return [
            next(responses) if p.kind == "respond" else self.pipeline.analyzer.analyze(p.turns) for p in batch
        ]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(pipeline: EmpathyPipeline, config: ServiceConfig | None = None) -> FastAPI:
    config = config or ServiceConfig()
    registry = CollectorRegistry()
    requests = Counter(
        "emocause_requests", "Requests by endpoint and status", ["endpoint", "status"], registry=registry
    )
    latency = Histogram("emocause_request_seconds", "Request latency", ["endpoint"], registry=registry,
                        buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))  # fmt: skip
    batch_sizes = Histogram("emocause_batch_size", "Dialogues per model batch", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32))  # fmt: skip
    batcher = Batcher(pipeline, config, batch_sizes.observe)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="emocause",
        description="Emotion-cause-aware empathetic dialogue: emotions, causes and a reply.",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def limits_and_metrics(request: Request, call_next: Callable[[Request], Any]) -> Any:
        start = time.perf_counter()
        path = request.url.path
        declared = request.headers.get("content-length")
        if (
            declared is not None
            and (not declared.isdigit() or int(declared) > config.max_body_bytes)
            or declared is None
            and request.method == "POST"
            and len(await request.body()) > config.max_body_bytes
        ):
            response = _error(413, f"request body over {config.max_body_bytes} bytes")
        else:
            response = await call_next(request)
        if path.startswith("/v1/"):
            requests.labels(path, str(response.status_code)).inc()
            latency.labels(path).observe(time.perf_counter() - start)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        if first.get("type") == "json_invalid":
            return _error(400, "the body is not valid JSON")
        return _error(422, f"{where or 'body'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(EmocauseError)
    async def user_error(_: Request, error: EmocauseError) -> JSONResponse:
        return _error(400, str(error))

    async def run(kind: Kind, turns: list[Turn]) -> Any:
        try:
            return await asyncio.wait_for(batcher.submit(kind, turns), config.request_timeout_s)
        except TimeoutError as error:
            raise _Timeout() from error

    @app.exception_handler(_Timeout)
    async def timeout(_: Request, error: _Timeout) -> JSONResponse:
        return _error(504, f"no answer within {config.request_timeout_s} s; try again")

    @app.exception_handler(Exception)
    async def failure(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(error).__name__}")

    @app.post("/v1/respond", summary="Emotions, causes and an empathetic reply to the last speaker turn")
    async def respond(body: DialogueRequest) -> dict[str, Any]:
        turns = parse_dialogue(body.dialogue, "dialogue")
        return (await run("respond", turns)).payload(turns)

    @app.post("/v1/analyze", summary="Emotions and causes of the last speaker turn, no reply")
    async def analyze(body: DialogueRequest) -> dict[str, Any]:
        turns = parse_dialogue(body.dialogue, "dialogue")
        analysis = asdict(await run("analyze", turns))
        analysis.pop("word_causes")
        return {"turns": [{"role": t.role, "text": t.text} for t in turns], **analysis}

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat: user = the sharer, assistant = us")
    async def chat_completions(body: ChatRequest) -> dict[str, Any]:
        if body.stream:
            raise EmocauseError("stream=true is not supported; ask without streaming")
        roles = {"user": "speaker", "assistant": "listener"}
        turns_in = []
        for i, message in enumerate(body.messages):
            if message.role == "system":
                continue
            if message.role not in roles:
                raise EmocauseError(
                    f"messages[{i}].role {message.role!r}: expected user, assistant or system"
                )
            turns_in.append({"role": roles[message.role], "text": message.content})
        turns = parse_dialogue(turns_in, "messages")
        response = await run("respond", turns)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model or config.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": response.reply},
                         "finish_reason": "stop"}],
            "emocause": response.payload(turns),
        }  # fmt: skip

    @app.get("/healthz", summary="Liveness and the loaded models")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "queue": batcher.queue.qsize(),
            "model": config.model_name,
            "engine": pipeline.engine,
        }

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry).decode(), media_type=CONTENT_TYPE_LATEST)

    page = (files("emocause") / "service" / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    return app


class _Timeout(Exception):
    pass
