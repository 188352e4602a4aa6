"""Chat-completion backends: one interface over a local causal LM and any OpenAI-compatible server.

- `LocalChatBackend`: a causal LM by hub id or folder (SmolLM2-135M-Instruct offline), loaded through the
  resolver. Concurrent `complete` calls are gathered into batches (up to `max_batch` prompts, waiting at
  most `batch_wait_ms` for more) and generated together on one worker thread, so callers that keep several
  requests in flight get the throughput of batched decoding.
- `OpenAIChatBackend`: `POST {base_url}/chat/completions` on vLLM, llama.cpp's server, Ollama, a hosted API or
  `emocause serve --lm`, through the `openai` client (timeouts, retries with exponential backoff on
  connection errors, 408, 409, 429 and 5xx), with at most `concurrency` requests in flight and at most
  `requests_per_second` started per second.

Both count prompt and completion tokens (the server's `usage` for HTTP) so callers can report what a run cost.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from emocause.errors import EmocauseError

Message = dict[str, str]
"""`{"role": "system" | "user" | "assistant", "content": text}`."""


class BackendError(EmocauseError):
    """The model could not answer (server unreachable after retries, bad answer, bad request)."""


@dataclass(frozen=True)
class GenerationOptions:
    max_tokens: int = 256
    temperature: float = 0.7
    """0 decodes greedily."""
    top_p: float = 0.9


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class ChatBackend(Protocol):
    @property
    def name(self) -> str:
        """The model's name as the output's provenance records it."""
        ...

    async def complete(self, messages: Sequence[Message], options: GenerationOptions) -> Completion: ...

    async def aclose(self) -> None: ...


def check_messages(messages: Sequence[Message]) -> None:
    if not messages:
        raise BackendError("no messages to complete")
    for i, message in enumerate(messages):
        if message.get("role") not in ("system", "user", "assistant") or not isinstance(
            message.get("content"), str
        ):
            raise BackendError(
                f"messages[{i}]: expected a role of system, user or assistant and text content"
            )


@dataclass
class _Request:
    prompt: list[int]
    options: GenerationOptions
    future: asyncio.Future[Completion]


@dataclass
class LocalChatBackend:
    """A causal LM on this machine; concurrent requests share generation passes (see the module docstring)."""

    model_name: str
    max_batch: int = 8
    batch_wait_ms: float = 20.0
    dtype: str = "float32"
    repetition_penalty: float = 1.1
    max_prompt_tokens: int = 1536
    """Prompts longer than this are refused (the answer would not fit a small model's context)."""
    _lm: Any = field(default=None, init=False, repr=False)
    _queue: asyncio.Queue[_Request] | None = field(default=None, init=False, repr=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _load_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.model_name

    def load(self) -> None:
        """Load the model now (otherwise the first request does); concurrent first requests load it once."""
        with self._load_lock:
            self._load()

    def _load(self) -> None:
        if self._lm is None:
            from emocause.models.lm import AdaptedLM, LMConfig

            lm = AdaptedLM(LMConfig(name=self.model_name, lora_r=-1))
            lm.merge_adapters(self.dtype)
            lm.eval()
            self._lm = lm

    def encode(self, messages: Sequence[Message]) -> list[int]:
        check_messages(messages)
        self.load()
        ids = self._lm.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True
        )
        ids = list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        if len(ids) > self.max_prompt_tokens:
            raise BackendError(f"prompt of {len(ids)} tokens is over the limit of {self.max_prompt_tokens}")
        return ids

    async def complete(self, messages: Sequence[Message], options: GenerationOptions) -> Completion:
        prompt = await asyncio.to_thread(self.encode, messages)
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None:
            # One queue and worker per event loop: a backend can serve several asyncio.run() calls in turn.
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._run(self._queue))
        request = _Request(prompt, options, loop.create_future())
        await self._queue.put(request)
        return await request.future

    async def _run(self, queue: asyncio.Queue[_Request]) -> None:
        while True:
            batch = [await queue.get()]
            deadline = asyncio.get_running_loop().time() + self.batch_wait_ms / 1000
            while len(batch) < self.max_batch:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    batch.append(await asyncio.wait_for(queue.get(), max(remaining, 0)))
                except TimeoutError:
                    break
            groups: dict[GenerationOptions, list[_Request]] = {}
            for request in batch:
                if not request.future.done():
                    groups.setdefault(request.options, []).append(request)
            for options, requests in groups.items():
                try:
                    outputs = await asyncio.to_thread(self._generate, [r.prompt for r in requests], options)
                except Exception as error:  # noqa: BLE001 -- callers get the error; the worker keeps serving
                    for request in requests:
                        if not request.future.done():
                            request.future.set_exception(BackendError(f"generation failed: {error}"))
                    continue
                for request, completion in zip(requests, outputs, strict=True):
                    if not request.future.done():
                        request.future.set_result(completion)

    def _generate(self, prompts: list[list[int]], options: GenerationOptions) -> list[Completion]:
        from emocause.models.lm import DecodingConfig

        decoding = DecodingConfig(
            max_new_tokens=options.max_tokens,
            do_sample=options.temperature > 0,
            temperature=options.temperature,
            top_p=options.top_p,
            repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=0,
        )
        with torch.inference_mode():
            new = self._lm.generate(self._lm.batch(prompts), decoding)
        tokenizer = self._lm.tokenizer
        return [
            Completion(tokenizer.decode(ids, skip_special_tokens=True).strip(), len(prompt), len(ids))
            for prompt, ids in zip(prompts, new, strict=True)
        ]

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
            self._queue = None


class OpenAIChatBackend:
    """Any OpenAI-compatible chat-completions server (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        retries: int = 4,
        requests_per_second: float | None = None,
    ):
        from aiolimiter import AsyncLimiter
        from openai import AsyncOpenAI

        if concurrency < 1:
            raise BackendError(f"concurrency {concurrency}: expected at least 1")
        self.name = model
        self.base_url = base_url
        # Local servers take any key; the client insists on one.
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout_s,
                                   max_retries=retries)  # fmt: skip
        self._slots = asyncio.Semaphore(concurrency)
        self._limiter = AsyncLimiter(requests_per_second, 1) if requests_per_second else None

    async def complete(self, messages: Sequence[Message], options: GenerationOptions) -> Completion:
        import openai

        check_messages(messages)
        async with self._slots:
            if self._limiter is not None:
                await self._limiter.acquire()
            try:
                answer = await self._client.chat.completions.create(
                    model=self.name,
                    messages=list(messages),  # type: ignore[arg-type]
                    max_tokens=options.max_tokens,
                    temperature=options.temperature,
                    top_p=options.top_p,
                )
            except openai.APIStatusError as error:
                raise BackendError(f"{self.base_url}: HTTP {error.status_code}: {error.message}") from error
            except openai.APIError as error:  # connection errors and timeouts, after the retries
                raise BackendError(f"{self.base_url}: {error}") from error
        if not answer.choices or answer.choices[0].message.content is None:
            raise BackendError(f"{self.base_url}: the answer holds no message")
        usage = answer.usage
        return Completion(
            answer.choices[0].message.content.strip(),
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )

    async def aclose(self) -> None:
        await self._client.close()
