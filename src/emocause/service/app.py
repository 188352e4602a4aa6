"""The HTTP service: `POST /v1/respond`, `POST /v1/analyze`, an OpenAI-compatible `POST /v1/chat/completions`
and `GET /v1/models`, `GET /healthz`, Prometheus `GET /metrics`, the chat page at `/`, and the OpenAPI schema at
`/openapi.json`.

Requests from all clients go through one `Batcher`: it gathers what arrives within `batch_wait_ms` (up to
`max_batch` dialogues) and runs them as one batch on a single worker thread, so the models are never used
from two threads at once and concurrent clients share each generation pass. A batch that fails is run again
one request at a time, so an error reaches only the request that caused it. The queue is bounded: when it is
full a request gets 503 with `Retry-After` at once. A request whose client has gone, or whose deadline has
passed, is dropped before it is computed; generation has a wall-clock bound; a worker busy for longer than
`stuck_after_s` makes `/healthz` answer 503.

Every error is JSON in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with a 4xx for what
the client sent; bodies are counted as they arrive (`max_body_bytes`, `body_timeout_s`); an API key, when set,
is required on `/v1/*`; the Host header must name an allowed host (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import hmac
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emocause.data.schema import Turn
from emocause.errors import EmocauseError
from emocause.pipeline.dialogue_input import parse_dialogue
from emocause.pipeline.respond import EmpathyPipeline
from emocause.service.errors import openai_error

Kind = Literal["respond", "analyze"]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass
class ServiceConfig:
    max_body_bytes: int = 64_000
    max_batch: int = 8
    batch_wait_ms: float = 15.0
    request_timeout_s: float = 120.0
    """A request not answered within this gets 504 and is not computed after it."""
    max_queue: int = 64
    """Requests waiting for the worker; one more gets 503 with Retry-After."""
    body_timeout_s: float = 10.0
    """Longest wait for the next piece of a request body (a stalled upload gets 408)."""
    generation_timeout_s: float = 30.0
    """Wall-clock bound of one generation pass; a reply cut by it ends with finish_reason "length"."""
    stuck_after_s: float = 180.0
    """A worker busy on one batch for longer is reported stuck by /healthz (503)."""
    api_key: str | None = None
    """When set, /v1/* requires `Authorization: Bearer KEY` (or `X-API-Key: KEY`)."""
    allowed_hosts: list[str] = field(default_factory=lambda: list(LOCAL_HOSTS))
    """Host header values accepted (without port); ["*"] accepts any."""
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
    """OpenAI's chat-completions request. Fields it defines that are not listed here are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[ChatMessage]
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=4096, strict=True, description="Reply tokens at most.")
    max_completion_tokens: int | None = Field(None, ge=1, le=4096, strict=True, description="As max_tokens.")
    n: int = Field(1, ge=1, le=1, strict=True, description="One reply per request.")
    temperature: float | None = Field(
        None, ge=0, le=2, description="Validated, not used: decoding is the server's."
    )
    top_p: float | None = Field(
        None, ge=0, le=1, description="Validated, not used: decoding is the server's."
    )


class Overloaded(Exception):
    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Timeout(Exception):
    pass


class _Pending:
    def __init__(self, kind: Kind, turns: list[Turn], deadline: float):
        self.kind = kind
        self.turns = turns
        self.deadline = deadline
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()


class Batcher:
    """Gathers concurrent requests into batches for one worker thread (see the module's description)."""

    def __init__(self, pipeline: EmpathyPipeline, config: ServiceConfig, on_batch: Callable[[int], None]):
        self.pipeline = pipeline
        self.config = config
        self.on_batch = on_batch
        self.queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=config.max_queue)
        self.worker: asyncio.Task[None] | None = None
        self.busy_since: float | None = None
        self.seconds_per_batch = 1.0
        """A running mean, for Retry-After."""
        self.dropped = 0
        """Requests dropped before computing: client gone or deadline passed."""

    def start(self) -> None:
        self.worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.worker:
            self.worker.cancel()

    def stuck_for(self) -> float:
        """Seconds the worker has been on its current batch, when over `stuck_after_s`; else 0."""
        busy = time.monotonic() - self.busy_since if self.busy_since is not None else 0.0
        return busy if busy > self.config.stuck_after_s else 0.0

    def retry_after(self) -> int:
        batches_ahead = self.queue.qsize() / self.config.max_batch + 1
        return max(1, math.ceil(batches_ahead * self.seconds_per_batch))

    def submit(self, kind: Kind, turns: list[Turn], deadline: float) -> asyncio.Future[Any]:
        """Queue a request; its future holds the result or the request's own error."""
        stuck = self.stuck_for()
        if stuck:
            raise Overloaded(f"the model worker has been busy on one batch for {stuck:.0f} s", 30)
        pending = _Pending(kind, turns, deadline)
        try:
            self.queue.put_nowait(pending)
        except asyncio.QueueFull:
            raise Overloaded(
                f"the server is at capacity ({self.config.max_queue} requests waiting)", self.retry_after()
            ) from None
        return pending.future

    async def _next_batch(self) -> list[_Pending]:
        batch = [await self.queue.get()]
        deadline = time.monotonic() + self.config.batch_wait_ms / 1000
        while len(batch) < self.config.max_batch:
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), max(deadline - time.monotonic(), 0)))
            except TimeoutError:
                break
        now = time.monotonic()
        live = []
        for pending in batch:
            if pending.future.done():  # the client left or gave up
                self.dropped += 1
            elif pending.deadline <= now:
                self.dropped += 1
                pending.future.set_exception(Timeout())
            else:
                live.append(pending)
        return live

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            self.on_batch(len(batch))
            self.busy_since = started = time.monotonic()
            try:
                outcomes = await asyncio.to_thread(self._work_isolated, batch)
            finally:
                self.busy_since = None
            self.seconds_per_batch = 0.8 * self.seconds_per_batch + 0.2 * (time.monotonic() - started)
            for pending, outcome in zip(batch, outcomes, strict=True):
                if pending.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    pending.future.set_exception(outcome)
                else:
                    pending.future.set_result(outcome)

    def _work_isolated(self, batch: Sequence[_Pending]) -> list[Any]:
        """Results in order; when the batch fails, each request alone, so an error is only its own."""
        try:
            return self._work(batch)
        except Exception as error:  # noqa: BLE001 -- sorted out per request below
            if len(batch) == 1:
                return [error]
        outcomes: list[Any] = []
        for pending in batch:
            try:
                outcomes += self._work([pending])
            except Exception as error:  # noqa: BLE001 -- reaches this request's client only
                outcomes.append(error)
        return outcomes

    def _work(self, batch: Sequence[_Pending]) -> list[Any]:
        respond = [p for p in batch if p.kind == "respond"]
        responses = iter(self.pipeline.batch([p.turns for p in respond]) if respond else [])
        return [
            next(responses) if p.kind == "respond" else self.pipeline.analyzer.analyze(p.turns) for p in batch
        ]


class _Guard:
    """Outermost ASGI layer: Host allow-list, API key, streaming body limit and read timeout, metrics, and a JSON
    500 for any uncaught error (the connection stays usable)."""

    def __init__(self, app: ASGIApp, config: ServiceConfig, observe: Callable[[str, int, float], None]):
        self.app = app
        self.config = config
        self.observe = observe
        self.any_host = "*" in config.allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send_tracked)
        else:
            try:
                await self.app(scope, self._limited(receive), send_tracked)
            except Exception:  # noqa: BLE001 -- a bug in one request must not close the connection of the next
                if not status["started"]:
                    await openai_error(500, "internal error", "internal_error")(scope, receive, send_tracked)
        self.observe(scope["path"], int(status["code"]), time.perf_counter() - start)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        hostname = host[: host.rindex("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
        # browsers always send Host; a client without one (HTTP/1.0 probes) cannot be a rebinding page
        if hostname and not self.any_host and hostname not in self.config.allowed_hosts:
            return openai_error(400, f"host {hostname!r} is not served here", "host_not_allowed")
        if self.config.api_key and scope["path"].startswith("/v1/"):
            given = (
                headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
            )
            if not hmac.compare_digest(given.encode(), self.config.api_key.encode()):
                return openai_error(
                    401, "a valid API key is required: Authorization: Bearer KEY", "invalid_api_key"
                )
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.config.max_body_bytes):
            return openai_error(
                413, f"request body over {self.config.max_body_bytes} bytes", "body_too_large"
            )
        return None

    def _limited(self, receive: Receive) -> Receive:
        """`receive` that counts body bytes as they arrive and bounds the wait for each piece."""
        seen = 0
        complete = False

        async def limited() -> Message:
            nonlocal seen, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.config.body_timeout_s)
            except TimeoutError:
                raise HTTPException(
                    408, f"the request body stalled for {self.config.body_timeout_s} s"
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.config.max_body_bytes:
                    raise HTTPException(413, f"request body over {self.config.max_body_bytes} bytes")
            return message

        return limited


_CODES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 408: "body_timeout",
          413: "body_too_large", 422: "invalid_parameter"}  # fmt: skip
_ROUTES = ("/v1/respond", "/v1/analyze", "/v1/chat/completions", "/v1/models")


def create_app(
    pipeline: EmpathyPipeline,
    config: ServiceConfig | None = None,
    on_stuck: Callable[[float], None] | None = None,
) -> FastAPI:
    """The app. `on_stuck(seconds)` is called once when the worker is found stuck (checked every second): a
    thread stuck in native code cannot be cancelled, so `emocause serve --exit-when-stuck` exits there and lets
    its supervisor start a fresh process."""
    config = config or ServiceConfig()
    pipeline.responder.config.decoding.max_seconds = config.generation_timeout_s
    registry = CollectorRegistry()
    requests = Counter(
        "emocause_requests", "Requests by endpoint and status", ["endpoint", "status"], registry=registry
    )
    latency = Histogram("emocause_request_seconds", "Request latency", ["endpoint"], registry=registry,
                        buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64))  # fmt: skip
    batch_sizes = Histogram("emocause_batch_size", "Dialogues per model batch", registry=registry,
                            buckets=(1, 2, 4, 8, 16, 32))  # fmt: skip
    batcher = Batcher(pipeline, config, batch_sizes.observe)

    def observe(path: str, status: int, seconds: float) -> None:
        if path.startswith("/v1/"):
            endpoint = path if path in _ROUTES else "other"  # bounded label values
            requests.labels(endpoint, str(status)).inc()
            latency.labels(endpoint).observe(seconds)

    async def watch() -> None:
        while True:
            await asyncio.sleep(1.0)
            stuck = batcher.stuck_for()
            if stuck and on_stuck is not None:
                on_stuck(stuck)
                return

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        watchdog = asyncio.create_task(watch())
        yield
        watchdog.cancel()
        await batcher.stop()

    app = FastAPI(
        title="emocause",
        description="Emotion-cause-aware empathetic dialogue: emotions, causes and a reply.",
        lifespan=lifespan,
    )
    app.add_middleware(_Guard, config=config, observe=observe)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        message = str(error.detail) if error.status_code != 400 else "the body could not be read as JSON"
        return openai_error(error.status_code, message, _CODES.get(error.status_code), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        if first.get("type") == "json_invalid":
            return openai_error(400, "the body is not valid JSON", "invalid_json")
        message = f"{where or 'body'}: {first.get('msg', 'invalid request')}"
        return openai_error(422, message, "invalid_parameter", where or None)

    @app.exception_handler(EmocauseError)
    async def user_error(_: Request, error: EmocauseError) -> JSONResponse:
        return openai_error(400, str(error), "invalid_request")

    @app.exception_handler(Overloaded)
    async def overloaded(_: Request, error: Overloaded) -> JSONResponse:
        headers = {"Retry-After": str(error.retry_after_s)}
        return openai_error(
            503, f"{error}; retry after {error.retry_after_s} s", "overloaded", headers=headers
        )

    @app.exception_handler(Timeout)
    async def timeout(_: Request, error: Timeout) -> JSONResponse:
        return openai_error(504, f"no answer within {config.request_timeout_s} s; try again", "timeout")

    async def run(request: Request, kind: Kind, turns: list[Turn]) -> Any:
        """The batcher's answer for this request; given up (and not computed) when its client leaves."""
        deadline = time.monotonic() + config.request_timeout_s
        future = batcher.submit(kind, turns, deadline)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                future.cancel()
                raise Timeout()
            try:
                return await asyncio.wait_for(asyncio.shield(future), min(remaining, 0.5))
            except TimeoutError:
                if await request.is_disconnected():
                    future.cancel()
                    raise Timeout() from None

    @app.post("/v1/respond", summary="Emotions, causes and an empathetic reply to the last speaker turn")
    async def respond(request: Request, body: DialogueRequest) -> dict[str, Any]:
        turns = parse_dialogue(body.dialogue, "dialogue")
        return (await run(request, "respond", turns)).payload(turns)

    @app.post("/v1/analyze", summary="Emotions and causes of the last speaker turn, no reply")
    async def analyze(request: Request, body: DialogueRequest) -> dict[str, Any]:
        turns = parse_dialogue(body.dialogue, "dialogue")
        analysis = asdict(await run(request, "analyze", turns))
        analysis.pop("word_causes")
        return {"turns": [{"role": t.role, "text": t.text} for t in turns], **analysis}

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat: user = the sharer, assistant = us")
    async def chat_completions(request: Request, body: ChatRequest) -> dict[str, Any]:
        if body.stream:
            raise EmocauseError("stream=true is not supported; ask without streaming")
        turns = parse_dialogue(chat_turns(body.messages), "messages")
        response = await run(request, "respond", turns)
        reply, finish = response.reply, response.finish_reason
        limit = body.max_completion_tokens or body.max_tokens
        tokenizer = pipeline.responder.tokenizer
        reply_ids = tokenizer(reply, add_special_tokens=False)["input_ids"]
        if limit is not None and len(reply_ids) > limit:
            reply_ids = reply_ids[:limit]
            reply, finish = str(tokenizer.decode(reply_ids, skip_special_tokens=True)), "length"
        prompt_tokens = sum(len(tokenizer(t.text, add_special_tokens=False)["input_ids"]) for t in turns)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model or config.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(reply_ids),
                      "total_tokens": prompt_tokens + len(reply_ids)},
            "emocause": response.payload(turns),
        }  # fmt: skip

    @app.get("/v1/models", summary="The model this server answers as (OpenAI's list)")
    async def models() -> dict[str, Any]:
        entry = {"id": config.model_name, "object": "model", "created": 0, "owned_by": "emocause"}
        return {"object": "list", "data": [entry]}

    @app.get("/healthz", summary="Liveness and the loaded models; 503 while the worker is stuck")
    async def healthz() -> JSONResponse:
        stuck = batcher.stuck_for()
        body = {
            "status": "stuck" if stuck else "ok",
            "queue": batcher.queue.qsize(),
            "max_queue": config.max_queue,
            "busy_seconds": round(time.monotonic() - batcher.busy_since, 3) if batcher.busy_since else 0.0,
            "dropped": batcher.dropped,
            "model": config.model_name,
            "engine": pipeline.engine,
        }
        return JSONResponse(body, status_code=503 if stuck else 200)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry).decode(), media_type=CONTENT_TYPE_LATEST)

    page = (files("emocause") / "service" / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    return app


_CHAT_ROLES = {"user": "speaker", "assistant": "listener"}
_INSTRUCTION_ROLES = ("system", "developer")


def chat_turns(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """OpenAI messages as dialogue turns: user = the sharer, assistant = the listener. System and developer
    instructions are accepted and not used (the reply's instruction is the responder's own); content may be a
    string or a list of text parts."""
    turns = []
    for i, message in enumerate(messages):
        if message.role in _INSTRUCTION_ROLES:
            continue
        if message.role not in _CHAT_ROLES:
            raise EmocauseError(
                f"messages[{i}].role {message.role!r}: expected user, assistant, system or developer"
            )
        content = message.content
        if isinstance(content, list):
            parts = [
                p.get("text") if isinstance(p, dict) and p.get("type") == "text" else None for p in content
            ]
            if any(not isinstance(p, str) for p in parts):
                raise EmocauseError(f"messages[{i}].content: only text parts are supported")
            content = "\n".join(str(p) for p in parts)
        turns.append({"role": _CHAT_ROLES[message.role], "text": content})
    return turns
