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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    server = uvicorn.Server(
        uvicorn.Config(create_app(pipeline, config), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/v1/respond"
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        i = index
        while time.monotonic() < deadline:
            body = json.dumps(
                {"dialogue": [{"role": t.role, "text": t.text} for t in messages[i % len(messages)]]}
            )
            request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=config.request_timeout_s + 10) as answer:
                    answer.read()
                latencies.append(time.perf_counter() - start)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                key = str(getattr(error, "code", type(error).__name__))
                errors[key] = errors.get(key, 0) + 1
            i += clients

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    server.should_exit = True
    thread.join(timeout=30)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
