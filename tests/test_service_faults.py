"""Faults an operator meets, each a regression test of a defect the service once had: inputs that hung the
worker, one request's error reaching its batch, a lone surrogate, an unbounded queue, bodies read whole before
the size check, a stuck worker reported healthy, mixed error shapes, unchecked chat parameters, open access.
Then a bounded soak with faults mixed in, and a bounded schemathesis run over the OpenAPI schema.

Batching, shedding and timing tests use `ScriptedPipeline` (instant, controllable); the rest the shipped
analyzer with a tiny random responder, so every real code path runs.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import running_server
from ecdd_script import free_port

from emocause.data.schema import Turn
from emocause.models.lm import DecodingConfig
from emocause.models.responder import Responder
from emocause.pipeline.analyze import Analysis
from emocause.pipeline.respond import EmpathyPipeline, Response
from emocause.service.app import ServiceConfig, create_app

pytestmark = pytest.mark.slow


class ScriptedPipeline:
    """The pipeline's interface, answering each dialogue with its own last text: "re: <text>". A text with
    "boom" makes the whole batch raise; `gate` holds the worker; `seconds` is each batch's cost."""

    engine = "scripted"

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds
        self.gate = threading.Event()
        self.gate.set()
        self.computed: list[str] = []
        self.responder = SimpleNamespace(config=SimpleNamespace(decoding=DecodingConfig()))
        self.analyzer = SimpleNamespace(analyze=lambda turns: Analysis(len(turns) - 1, [("sad", 1.0)]))

    def batch(self, dialogues: Sequence[Sequence[Turn]]) -> list[Response]:
        self.gate.wait(30)
        time.sleep(self.seconds)
        if any("boom" in t.text for d in dialogues for t in d):
            raise RuntimeError("boom: the secret text of another client")
        self.computed += [d[-1].text for d in dialogues]
        return [Response(Analysis(len(d) - 1, [("sad", 1.0)]), reply=f"re: {d[-1].text}") for d in dialogues]


def _post(
    url: str, path: str, body: Any, timeout: float = 60, headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    """Status, parsed JSON body and headers; the raw bytes are sent as given when `body` is bytes."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request("POST", path, data, {"Content-Type": "application/json", **(headers or {})})
    answer = connection.getresponse()
    text = answer.read()
    connection.close()
    return answer.status, json.loads(text), {k.lower(): v for k, v in answer.getheaders()}


def _get(url: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("GET", path, headers=headers or {})
    answer = connection.getresponse()
    status, text = answer.status, answer.read()
    connection.close()
    return status, json.loads(text)


@pytest.fixture(scope="module")
def pipeline(tiny_responder: Path) -> EmpathyPipeline:
    pipeline = EmpathyPipeline.from_pretrained(
        "default", responder=tiny_responder, cause_turns=None, mechanisms=None
    )
    pipeline.responder.config.decoding.max_new_tokens = 8
    return pipeline


@pytest.fixture(scope="module")
def server(pipeline: EmpathyPipeline) -> Iterator[str]:
    with running_server(create_app(pipeline, ServiceConfig(max_body_bytes=8_000, batch_wait_ms=30))) as url:
        yield url


HANGING_TEXTS = [
    "😭" * 300 + " sad",
    "https://example.com/" + "a" * 3_000 + " so sad",
    "x" * 5_000,
    "😭" * 200 + " " + "😭" * 200 + " " + "😭" * 200,
]


@pytest.mark.parametrize("text", HANGING_TEXTS)
def test_prompt_fitting_always_ends_within_the_limit(pipeline: EmpathyPipeline, text: str) -> None:
    from emocause.models.responder import ResponseInput

    responder: Responder = pipeline.responder
    result: list[Any] = []
    x = ResponseInput([Turn("speaker", text)], None, "sad", text)
    worker = threading.Thread(target=lambda: result.append(responder.encode_prompt(x)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert result, "encode_prompt did not finish within 20 s"
    assert 0 < len(result[0].ids) <= responder.config.lm.max_prompt_tokens


def test_a_hanging_input_is_answered_and_the_server_keeps_serving(server: str) -> None:
    for text in HANGING_TEXTS[:2]:
        status, body, _ = _post(server, "/v1/respond", {"dialogue": text}, timeout=60)
        assert status == 200, body
    status, body, _ = _post(server, "/v1/respond", {"dialogue": "I lost my keys."})
    assert status == 200 and body["turns"][-1]["text"] == "I lost my keys."


def test_one_failing_request_fails_only_itself() -> None:
    scripted = ScriptedPipeline()
    scripted.gate.clear()  # hold the worker so that all eight requests meet in one batch
    with running_server(create_app(scripted, ServiceConfig(max_batch=8, batch_wait_ms=300))) as url:  # type: ignore[arg-type]
        texts = [f"message {i}" for i in range(7)] + ["boom"]
        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(_post, url, "/v1/respond", {"dialogue": t}) for t in texts]
            time.sleep(0.5)
            scripted.gate.set()
            answers = [f.result() for f in futures]
    for text, (status, body, _) in zip(texts[:7], answers[:7], strict=True):
        assert status == 200 and body["reply"] == f"re: {text}"
    status, body, _ = answers[7]
    assert status == 500 and "secret" not in json.dumps(body) and body["error"]["type"] == "server_error"


def test_invalid_requests_in_a_busy_batch_do_not_touch_the_valid_ones(server: str) -> None:
    valid = [{"dialogue": f"My exam {i} went badly."} for i in range(6)]
    invalid = [b'{"dialogue": "\\ud800 sad"}', b'{"dialogue": [{"role": "listener", "text": "hi"}]}']
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: _post(server, "/v1/respond", b), [*valid, *invalid]))
    for request, (status, body, _) in zip(valid, answers, strict=False):
        assert status == 200 and body["turns"][-1]["text"] == request["dialogue"]
    assert [status for status, _, _ in answers[6:]] == [400, 400]
    assert "surrogate" in answers[6][1]["error"]["message"] and "speaker" in answers[7][1]["error"]["message"]


def test_a_lone_surrogate_is_a_400_and_the_connection_stays_usable(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    bodies = {
        "/v1/respond": b'{"dialogue": "\\ud800"}',
        "/v1/analyze": b'{"dialogue": ["I am \\udfff sad"]}',
        "/v1/chat/completions": b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
    }
    for path, body in bodies.items():
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        assert answer.status == 400 and "surrogate" in json.loads(answer.read())["error"]["message"]
    connection.request(
        "POST", "/v1/analyze", json.dumps({"dialogue": "I am sad."}), {"Content-Type": "application/json"}
    )
    answer = connection.getresponse()
    assert answer.status == 200 and json.loads(answer.read())["emotions"]
    connection.close()


def test_a_full_queue_sheds_with_retry_after() -> None:
    scripted = ScriptedPipeline(seconds=0.4)
    config = ServiceConfig(max_batch=1, max_queue=2, batch_wait_ms=0)
    with running_server(create_app(scripted, config)) as url, ThreadPoolExecutor(10) as pool:  # type: ignore[arg-type]
        answers = list(pool.map(lambda i: _post(url, "/v1/respond", {"dialogue": f"m{i}"}), range(10)))
    shed = [(body, headers) for status, body, headers in answers if status == 503]
    served = [body for status, body, _ in answers if status == 200]
    assert shed and served and len(shed) + len(served) == 10
    body, headers = shed[0]
    assert int(headers["retry-after"]) >= 1 and body["error"]["code"] == "overloaded"


def test_requests_of_clients_that_left_are_not_computed() -> None:
    scripted = ScriptedPipeline()
    scripted.gate.clear()
    with running_server(create_app(scripted, ServiceConfig(max_batch=1, batch_wait_ms=0))) as url:  # type: ignore[arg-type]
        first = threading.Thread(target=_post, args=(url, "/v1/respond", {"dialogue": "first"}), daemon=True)
        first.start()
        time.sleep(0.3)

        def impatient(i: int) -> None:
            with pytest.raises((TimeoutError, socket.timeout)):
                _post(url, "/v1/respond", {"dialogue": f"gone {i}"}, timeout=0.5)

        with ThreadPoolExecutor(5) as pool:
            list(pool.map(impatient, range(5)))
        time.sleep(1.5)  # the server notices each departure within half a second
        scripted.gate.set()
        first.join(timeout=10)
        time.sleep(0.5)
        health = _get(url, "/healthz")[1]
    assert scripted.computed == ["first"] and health["dropped"] == 5


def test_requests_past_their_deadline_get_504_and_are_not_computed() -> None:
    scripted = ScriptedPipeline()
    scripted.gate.clear()
    with running_server(
        create_app(scripted, ServiceConfig(max_batch=1, batch_wait_ms=0, request_timeout_s=1))
    ) as url:  # type: ignore[arg-type]
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(_post, url, "/v1/respond", {"dialogue": f"m{i}"}) for i in range(3)]
            time.sleep(2)
            scripted.gate.set()
            answers = [f.result() for f in futures]
        time.sleep(0.3)
    assert [status for status, _, _ in answers] == [504, 504, 504]
    assert answers[0][1]["error"]["code"] == "timeout" and len(scripted.computed) <= 1


def _resident_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) / 1024


def test_a_body_without_content_length_is_cut_at_the_limit(server: str) -> None:
    before = _resident_mib()
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/v1/respond")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b"x" * 16_384
    sent = 0
    try:
        for _ in range(4_096):  # 64 MiB offered; the server must not hold them
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except OSError:
        pass  # the server answered and closed
    answer = connection.getresponse()
    assert answer.status == 413 and json.loads(answer.read())["error"]["code"] == "body_too_large"
    assert _resident_mib() - before < 24, f"{sent / 2**20:.0f} MiB sent raised the server's memory"


def test_a_stalled_body_gets_408() -> None:
    with running_server(create_app(ScriptedPipeline(), ServiceConfig(body_timeout_s=0.5))) as url:  # type: ignore[arg-type]
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"POST /v1/respond HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{\"dialogue\"")  # fmt: skip
            answer = raw.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408") and "body_timeout" in answer


def test_a_stuck_worker_shows_in_healthz_and_new_requests_are_refused() -> None:
    scripted = ScriptedPipeline()
    scripted.gate.clear()
    stuck_calls: list[float] = []
    app = create_app(scripted, ServiceConfig(stuck_after_s=0.5), on_stuck=stuck_calls.append)  # type: ignore[arg-type]
    with running_server(app) as url:
        threading.Thread(target=_post, args=(url, "/v1/respond", {"dialogue": "x"}), daemon=True).start()
        time.sleep(1.2)
        status, health = _get(url, "/healthz")
        assert status == 503 and health["status"] == "stuck" and health["busy_seconds"] > 0.5
        status, body, headers = _post(url, "/v1/respond", {"dialogue": "y"})
        assert status == 503 and "busy" in body["error"]["message"] and "retry-after" in headers
        assert len(stuck_calls) == 1 and stuck_calls[0] > 0.5, "the supervisor hook is called once"
        scripted.gate.set()
        time.sleep(0.3)
        assert _get(url, "/healthz")[0] == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/nothing-here", None, 404),
        ("GET", "/v1/respond", None, 405),
        ("POST", "/v1/respond", b'{"dialogue": "\xff\xfe sad"}', 400),
        ("POST", "/v1/respond", b"[" * 30_000 + b"]" * 30_000, 413),
        ("POST", "/v1/analyze", b"[" * 3_000 + b"]" * 3_000, 400),
        ("POST", "/v1/respond", b"{not json", 400),
        ("POST", "/v1/respond", b"{}", 422),
    ],
)
def test_every_error_is_in_openai_shape(
    server: str, method: str, path: str, body: bytes | None, status: int
) -> None:
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request(method, path, body, {"Content-Type": "application/json"})
    answer = connection.getresponse()
    error = json.loads(answer.read())["error"]
    assert answer.status == status and set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]


@pytest.mark.parametrize(
    ("extra", "param"),
    [({"max_tokens": -1}, "max_tokens"), ({"max_tokens": 1e30}, "max_tokens"), ({"max_tokens": "abc"}, "max_tokens"),
     ({"temperature": 9}, "temperature"), ({"n": 5}, "n"), ({"top_p": 2}, "top_p")],
)  # fmt: skip
def test_chat_parameters_are_validated(server: str, extra: dict[str, Any], param: str) -> None:
    body = {"messages": [{"role": "user", "content": "I lost my job."}], **extra}
    status, answer, _ = _post(server, "/v1/chat/completions", body)
    assert status == 422 and answer["error"]["param"] == param


def test_chat_honours_max_tokens_and_reports_usage(server: str) -> None:
    body = {"messages": [{"role": "developer", "content": "be brief"},
                         {"role": "user", "content": [{"type": "text", "text": "I lost my job today."}]}],
            "max_tokens": 1, "temperature": 0.2}  # fmt: skip
    status, answer, _ = _post(server, "/v1/chat/completions", body)
    assert status == 200, answer
    assert answer["choices"][0]["finish_reason"] == "length" and answer["usage"]["completion_tokens"] == 1
    assert answer["usage"]["total_tokens"] == answer["usage"]["prompt_tokens"] + 1
    status, models = _get(server, "/v1/models")
    assert status == 200 and models["data"][0]["id"] == "emocause-default"


@pytest.mark.parametrize("text", ["\u200b\u200b", "\x00", "\u200d\ufeff \x00"])
def test_invisible_only_text_is_no_message(server: str, text: str) -> None:
    status, body, _ = _post(server, "/v1/respond", {"dialogue": text})
    assert status == 400 and "visible text" in body["error"]["message"]


def test_api_key_and_host_allow_list() -> None:
    config = ServiceConfig(api_key="s3cret")
    with running_server(create_app(ScriptedPipeline(), config)) as url:  # type: ignore[arg-type]
        status, body, _ = _post(url, "/v1/respond", {"dialogue": "hi there"})
        assert status == 401 and body["error"]["type"] == "authentication_error"
        assert (
            _post(url, "/v1/respond", {"dialogue": "hi"}, headers={"Authorization": "Bearer wrong"})[0] == 401
        )
        status, body, _ = _post(
            url, "/v1/respond", {"dialogue": "hi"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert status == 200 and body["reply"] == "re: hi"
        assert _get(url, "/healthz")[0] == 200  # liveness stays open to the orchestrator
        status, body = _get(url, "/healthz", headers={"Host": "attacker.example"})
        assert status == 400 and body["error"]["code"] == "host_not_allowed"
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:  # HTTP/1.0, no Host header
            raw.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert raw.recv(4096).startswith(b"HTTP/1.1 200")


def test_serve_refuses_to_listen_beyond_localhost_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from emocause.cli import _register, app

    _register()
    monkeypatch.delenv("EMOCAUSE_API_KEY", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", str(free_port())])
    assert result.exit_code != 0 and "--api-key" in result.output + str(result.exception)


def test_soak_with_faults_mixed_in(pipeline: EmpathyPipeline) -> None:
    """32 clients for a bounded time; among them hanging inputs, bad requests and clients that leave. Every valid
    request gets its own answer, no request outlives its bound, and the server is healthy at the end."""
    config = ServiceConfig(max_batch=8, batch_wait_ms=20, request_timeout_s=60)
    wrong: list[str] = []
    slowest = [0.0]
    counts = {"valid": 0, "bad": 0, "gone": 0, "hanging": 0}
    with running_server(create_app(pipeline, config)) as url:
        stop_at = time.monotonic() + 8

        def client(index: int) -> None:
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                kind = ("valid", "valid", "hanging", "bad", "gone")[(index + i) % 5]
                start = time.monotonic()
                if kind == "gone":
                    try:
                        _post(url, "/v1/respond", {"dialogue": "I will not wait for this."}, timeout=0.05)
                    except OSError:
                        pass
                elif kind == "bad":
                    status, body, _ = _post(
                        url, "/v1/respond", b'{"dialogue": [{"role": "listener", "text": "x"}]}'
                    )
                    if status != 400:
                        wrong.append(f"bad request got {status}")
                else:
                    text = (
                        HANGING_TEXTS[i % 2]
                        if kind == "hanging"
                        else f"Client {index} message {i}: I miss home."
                    )
                    status, body, _ = _post(url, "/v1/respond", {"dialogue": text}, timeout=90)
                    if status != 200 or body["turns"][-1]["text"] != text.strip():
                        wrong.append(f"{kind} got {status}")
                counts[kind] += 1
                slowest[0] = max(slowest[0], time.monotonic() - start)

        with ThreadPoolExecutor(32) as pool:
            list(pool.map(client, range(32)))
        health = _get(url, "/healthz")
    assert not wrong, wrong[:5]
    assert counts["valid"] >= 32 and counts["hanging"] and counts["bad"] and counts["gone"]
    assert slowest[0] < config.request_timeout_s and health[0] == 200 and health[1]["status"] == "ok"


def test_fuzzed_requests_never_get_a_5xx(pipeline: EmpathyPipeline) -> None:
    """A bounded schemathesis run over the OpenAPI schema against the app on a server in this process: whatever
    the body, no server error and no hang."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    failures: list[str] = []
    with running_server(
        create_app(pipeline, ServiceConfig(max_body_bytes=8_000, request_timeout_s=30))
    ) as url:
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                response = case.call(base_url=url, timeout=40)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.path} {case.body!r}: {response.status_code}")

            check()
    assert not failures, failures[:3]
