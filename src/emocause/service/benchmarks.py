"""Product benchmarks: latency of `respond` per stage at batch 1, and a load test of the HTTP service.

Both write result rows (`emocause.bench.results`); they are measurements of this machine, not tests.
"""

from __future__ import annotations

import json
import resource
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from emocause.bench.results import ResultRow, describe_device
from emocause.data import load
from emocause.data.schema import Turn
from emocause.pipeline.respond import EmpathyPipeline
from emocause.service.app import ServiceConfig, create_app


def first_messages(n: int, data_root: str | Path | None = None) -> list[list[Turn]]:
    """The opening speaker turns of the first `n` ED test dialogues: realistic messages of varied length."""
    dialogues = load("empathetic_dialogues", "test", data_root).dialogues
    return [[Turn("speaker", d.turns[0].text)] for d in dialogues[:n] if d.turns]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def latency_rows(pipeline: EmpathyPipeline, messages: Sequence[list[Turn]], label: str) -> list[ResultRow]:
    """p50 / p95 wall seconds of `respond` at batch 1, in total and per stage, after one warm-up call."""
    pipeline(messages[0])
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    tokens = []
    for turns in messages:
        start = time.perf_counter()
        response = pipeline(turns)
        totals.append(time.perf_counter() - start)
        for stage, seconds in response.seconds.items():
            stages.setdefault(stage, []).append(seconds)
        tokens.append(
            len(pipeline.responder.tokenizer(response.reply, add_special_tokens=False)["input_ids"])
        )
    n = len(totals)
    decoding = pipeline.responder.config.decoding
    note = f"batch 1; replies of {statistics.mean(tokens):.1f} tokens on average (max {decoding.max_new_tokens}), greedy"
    rows = []
    for stage, values in [("total", totals), *sorted(stages.items())]:
        for q in (50, 95):
            rows.append(ResultRow(
                "respond_latency", "empathetic_dialogues", "test", n, f"{stage}_p{q}_seconds", percentile(values, q),
                label, describe_device(), sum(totals), notes=note,
                definition=f"{q}th percentile of wall seconds of the {stage} stage per request",
            ))  # fmt: skip
    return rows


@dataclass
class Outcome:
    kind: str
    """valid, hanging (a valid input that once hung the worker), bad (a request that must get 400), gone (a
    client that leaves before its answer)."""
    status: str
    """The HTTP status, or the client-side error's name."""
    seconds: float
    correct: bool
    """valid / hanging: 200 with the client's own text echoed; bad: 400; gone: always."""


Plan = Callable[[int, int], tuple[str, Any, float]]
"""(client, request number) -> (kind, JSON body, client timeout in seconds)."""


def drive(url: str, clients: int, seconds: float, plan: Plan) -> tuple[list[Outcome], float]:
    """`clients` threads send what `plan` says back to back for `seconds`; every outcome and the wall time."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            kind, body, timeout = plan(index, i)
            i += 1
            request = urllib.request.Request(
                url, json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
            start = time.perf_counter()
            status, answer = "", None
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status, answer = str(response.status), json.loads(response.read())
            except urllib.error.HTTPError as error:
                status = str(error.code)
                if error.code == 503:  # a polite client waits as told before its next request
                    wait = float(error.headers.get("Retry-After", "1"))
                    time.sleep(max(0.0, min(wait, deadline - time.monotonic())))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                status = type(getattr(error, "reason", error)).__name__
            elapsed = time.perf_counter() - start
            if status == "503":
                elapsed = 0.0  # shed at once; the wait above is the client's own
            if kind in ("valid", "hanging"):
                sent = body["dialogue"][-1]["text"]
                correct = (
                    status == "200" and answer is not None and answer["turns"][-1]["text"] == sent.strip()
                )
            else:
                correct = kind == "gone" or status == "400"
            outcomes.append(Outcome(kind, status, elapsed, correct))

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    return outcomes, time.perf_counter() - started


class _Server:
    """The app on a local uvicorn server in a thread, for a `with` block."""

    def __init__(self, pipeline: EmpathyPipeline, config: ServiceConfig, port: int):
        self.server = uvicorn.Server(
            uvicorn.Config(create_app(pipeline, config), host="127.0.0.1", port=port, log_level="error")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}/v1/respond"

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self.url

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _body(turns: Sequence[Turn]) -> dict[str, Any]:
    return {"dialogue": [{"role": t.role, "text": t.text} for t in turns]}


def load_test_rows(
    pipeline: EmpathyPipeline,
    messages: Sequence[list[Turn]],
    label: str,
    clients: int = 32,
    seconds: float = 60.0,
    config: ServiceConfig | None = None,
    port: int = 8765,
) -> list[ResultRow]:
    """`clients` concurrent clients post /v1/respond back to back for `seconds` against a local server."""
    config = config or ServiceConfig()

    def plan(index: int, i: int) -> tuple[str, Any, float]:
        return "valid", _body(messages[(index + i * clients) % len(messages)]), config.request_timeout_s + 10

    with _Server(pipeline, config, port) as url:
        outcomes, wall = drive(url, clients, seconds, plan)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    latencies = [o.seconds for o in outcomes if o.status == "200"]
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.status != "200":
            errors[o.status] = errors.get(o.status, 0) + 1
    done = len(latencies)
    note = f"{clients} clients back to back for {seconds:.0f} s; max batch {config.max_batch}, wait {config.batch_wait_ms} ms"
    row = lambda metric, value, definition: ResultRow(
        "service_load", "empathetic_dialogues", "test", done, metric, value, label, describe_device(), wall,
        notes=note, definition=definition)  # fmt: skip
    rows = [
        row("throughput_requests_per_second", done / wall, "completed /v1/respond requests per wall second"),
        row("errors", float(sum(errors.values())), f"failed requests (by status: {errors or 'none'})"),
        row("peak_memory_mib", peak_mib, "peak resident memory of the server process (ru_maxrss)"),
    ]
    if latencies:
        rows += [row(f"latency_p{q}_seconds", percentile(latencies, q), f"{q}th percentile of request wall seconds seen by clients")
                 for q in (50, 95, 99)]  # fmt: skip
    return rows


HANGING_INPUTS = ["😭" * 300 + " sad", "https://example.com/" + "a" * 3_000 + " so sad"]
"""Inputs that once hung the worker for good (prompt fitting that never ended)."""
BAD_REQUEST = {"dialogue": [{"role": "listener", "text": "a listener turn alone"}]}


def fault_load_rows(
    pipeline: EmpathyPipeline,
    messages: Sequence[list[Turn]],
    label: str,
    clients: int = 32,
    seconds: float = 60.0,
    config: ServiceConfig | None = None,
    port: int = 8765,
) -> list[ResultRow]:
    """Three phases on one server: clean (valid requests only), faults (one request in five valid, the rest
    hanging inputs, bad requests and clients that leave after 1 s), and 2x overload (twice the clients with a
    queue bound of `clients`). Rows: errors and hangs among valid requests, p95 of valid requests in the clean
    and the fault phase, the shed rate under overload, peak memory."""
    config = config or ServiceConfig()
    patience = config.request_timeout_s + 10

    def valid(index: int, i: int) -> tuple[str, Any, float]:
        return "valid", _body(messages[(index + i * clients) % len(messages)]), patience

    def faulty(index: int, i: int) -> tuple[str, Any, float]:
        kind = ("valid", "valid", "hanging", "bad", "gone")[(index + i) % 5]
        if kind == "hanging":
            return kind, _body([Turn("speaker", HANGING_INPUTS[i % 2])]), patience
        if kind == "bad":
            return kind, BAD_REQUEST, patience
        return (kind, *valid(index, i)[1:2], 1.0 if kind == "gone" else patience)

    phases: dict[str, tuple[list[Outcome], float]] = {}
    with _Server(pipeline, config, port) as url:
        phases["clean"] = drive(url, clients, seconds, valid)
        phases["faults"] = drive(url, clients, seconds, faulty)
    overload = ServiceConfig(**{**config.__dict__, "max_queue": clients})
    with _Server(pipeline, overload, port + 1) as url:
        phases["overload"] = drive(url, 2 * clients, seconds, valid)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    clean, faults = phases["clean"][0], phases["faults"][0]
    valid_faults = [o for o in faults if o.kind in ("valid", "hanging")]
    clean_p95 = percentile([o.seconds for o in clean if o.status == "200"] or [0.0], 95)
    fault_p95 = percentile(
        [o.seconds for o in faults if o.kind == "valid" and o.status == "200"] or [0.0], 95
    )
    overloaded = phases["overload"][0]
    shed = sum(o.status == "503" for o in overloaded)
    wall = sum(w for _, w in phases.values())
    kinds = {k: sum(o.kind == k for o in faults) for k in ("valid", "hanging", "bad", "gone")}
    note = (f"{clients} clients x {seconds:.0f} s per phase; fault phase: {kinds}; overload: {2 * clients} clients, "
            f"queue bound {clients}; max batch {config.max_batch}")  # fmt: skip

    def row(metric: str, n: int, value: float, definition: str) -> ResultRow:
        return ResultRow("service_load", "empathetic_dialogues", "test", n, metric, value, label, describe_device(),
                         wall, notes=note, definition=definition)  # fmt: skip

    return [
        row("errors", len(valid_faults) + len(clean), float(sum(not o.correct for o in [*clean, *valid_faults])),
            "valid requests (clean and fault phases) not answered 200 with their own text"),
        row("wrong_answers_to_bad_requests", kinds["bad"], float(sum(not o.correct for o in faults if o.kind == "bad")),
            "bad requests not answered 400"),
        row("hangs", len(clean) + len(faults), float(sum(o.seconds >= patience for o in [*clean, *faults])),
            f"requests without an answer within the server timeout + 10 s ({patience:.0f} s)"),
        row("clean_latency_p95_seconds", len(clean), clean_p95, "95th percentile of valid requests, clean phase"),
        row("fault_latency_p95_seconds", kinds["valid"], fault_p95,
            "95th percentile of valid requests while faults are mixed in"),
        row("fault_to_clean_p95_ratio", kinds["valid"], fault_p95 / clean_p95 if clean_p95 else 0.0,
            "fault-phase p95 over clean-phase p95 of valid requests (goal <= 1.5)"),
        row("shed_rate", len(overloaded), shed / max(len(overloaded), 1),
            "share of requests answered 503 (queue full) under 2x overload"),
        row("overload_errors", len(overloaded), float(sum(o.status not in ("200", "503") for o in overloaded)),
            "requests under overload answered neither 200 nor 503"),
        row("peak_memory_mib", len(clean) + len(faults) + len(overloaded), peak_mib,
            "peak resident memory of the process running the server (ru_maxrss)"),
    ]  # fmt: skip
