"""The HTTP service on a real uvicorn server on localhost: endpoints, batching across clients, limits and
errors, metrics; and the web page in a real headless Chromium (skipped where no Chromium is installed).

The pipeline is the shipped analyzer with a tiny random responder, so replies are gibberish but every code
path (HTTP, batching, analysis, generation, safety) is the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import running_server
from ecdd_script import free_port

from emocause.models.knowledge import KnowledgeEntry, RetrievalKnowledge
from emocause.pipeline.respond import EmpathyPipeline
from emocause.pipeline.safety import CRISIS_REPLY
from emocause.service.app import ServiceConfig, create_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tiny_responder: Path) -> EmpathyPipeline:
    pipeline = EmpathyPipeline.from_pretrained("default", responder=tiny_responder, cause_turns=None)
    pipeline.responder.config.decoding.max_new_tokens = 8
    pipeline.knowledge = RetrievalKnowledge(
        [KnowledgeEntry("PersonX's dog dies", "xReact", ["sad", "lonely"])]
    )
    return pipeline


@pytest.fixture(scope="module")
def server(pipeline: EmpathyPipeline) -> Iterator[str]:
    with running_server(
        create_app(pipeline, ServiceConfig(max_body_bytes=4_000, max_batch=8, batch_wait_ms=50))
    ) as url:
        yield url


def _call(url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            text = answer.read().decode()
            status = answer.status
    except urllib.error.HTTPError as error:
        text, status = error.read().decode(), error.code
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def test_respond_analyze_and_chat_completions(server: str) -> None:
    status, result = _call(f"{server}/v1/respond", {"dialogue": ["My dog died this morning. I keep crying."]})
    assert status == 200, result
    assert (
        result["emotions"]
        and result["cause_words"]
        and result["cause_sentence"]
        and isinstance(result["reply"], str)
    )
    assert result["strategy"].startswith(("cause-aware", "safe fallback", "emotion-aware"))
    if not result["blocked"]:
        assert set(result["mechanisms"]) == {"emotional_reactions", "interpretations", "explorations"}
        assert result["knowledge"]["xReact"] == ["sad", "lonely"] and "mechanisms:" in result["strategy"]

    status, analysis = _call(
        f"{server}/v1/analyze", {"dialogue": {"turns": [{"role": "speaker", "text": "I lost my job."}]}}
    )
    assert status == 200 and analysis["emotions"] and "reply" not in analysis

    status, completion = _call(f"{server}/v1/chat/completions", {
        "model": "x", "messages": [{"role": "system", "content": "be kind"},
                                   {"role": "user", "content": "I want to kill myself."}]})  # fmt: skip
    assert status == 200, completion
    assert (
        completion["object"] == "chat.completion"
        and completion["choices"][0]["message"]["role"] == "assistant"
    )
    assert completion["choices"][0]["message"]["content"] == CRISIS_REPLY
    assert completion["emocause"]["crisis"] == ["suicide"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"{}", 422, "dialogue"),
        (json.dumps({"dialogue": []}).encode(), 400, "no turns"),
        (json.dumps({"dialogue": 5}).encode(), 400, "no turns"),
        (json.dumps({"dialogue": [{"role": "speaker", "text": 7}]}).encode(), 400, "text"),
        (json.dumps({"dialogue": ["x" * 5_000]}).encode(), 413, "over 4000 bytes"),
    ],
)
def test_bad_requests_get_a_clear_4xx(server: str, body: bytes, status: int, message: str) -> None:
    got, result = _call(f"{server}/v1/respond", raw=body)
    assert got == status and message in result["error"]["message"], result


def test_bad_chat_messages_and_the_server_stays_up(server: str) -> None:
    status, result = _call(f"{server}/v1/chat/completions", {"messages": [{"role": "tool", "content": "x"}]})
    assert status == 400 and "role" in result["error"]["message"]
    status, result = _call(
        f"{server}/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "stream": True}
    )
    assert status == 400 and "stream" in result["error"]["message"]
    health = _call(f"{server}/healthz")[1]
    assert health["status"] == "ok" and health["engine"] == "transformers"  # the tiny responder has no GGUF


def test_concurrent_clients_are_batched(server: str) -> None:
    def one(i: int) -> int:
        return _call(
            f"{server}/v1/respond", {"dialogue": [f"My exam number {i} went badly and I feel awful."]}
        )[0]

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(8)))
    assert statuses == [200] * 8
    status, metrics = _call(f"{server}/metrics")
    assert status == 200 and 'emocause_requests_total{endpoint="/v1/respond",status="200"}' in metrics
    batches = [line for line in metrics.splitlines() if line.startswith("emocause_batch_size_count")]
    sums = [line for line in metrics.splitlines() if line.startswith("emocause_batch_size_sum")]
    n_batches, n_dialogues = float(batches[0].split()[-1]), float(sums[0].split()[-1])
    assert n_dialogues / n_batches > 1.5, "concurrent requests must share model batches"


def test_openapi_schema_lists_the_endpoints(server: str) -> None:
    status, schema = _call(f"{server}/openapi.json")
    assert status == 200
    assert {"/v1/respond", "/v1/analyze", "/v1/chat/completions", "/healthz", "/metrics"} <= set(
        schema["paths"]
    )


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def test_web_page_in_headless_chromium(server: str, tmp_path: Path) -> None:
    if _chromium() is None:
        if os.environ.get("EMOCAUSE_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromedriver are required here (EMOCAUSE_REQUIRE_BROWSER is set)")
        pytest.skip("no chromium and chromedriver on this machine")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser, driver_path = _chromium()  # type: ignore[misc]
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(server)
        driver.find_element(By.ID, "message").send_keys("My dog died this morning. I keep crying.")
        driver.find_element(By.ID, "send").click()
        WebDriverWait(driver, 60).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".reply"))
        )
        assert driver.find_elements(By.CSS_SELECTOR, ".user mark.cause"), "cause words are highlighted"
        assert driver.find_elements(By.CSS_SELECTOR, ".user .bar"), "emotion bars under the user turn"
        assert "strategy:" in driver.find_element(By.CSS_SELECTOR, ".reply .strategy").text
        knowledge = driver.find_elements(By.CSS_SELECTOR, ".reply .knowledge")
        assert not knowledge or "xReact: sad; lonely" in knowledge[0].text
        # A long conversation: the page sends only the latest turns that fit the server's limits.
        sent = driver.execute_script(
            "for (let i = 0; i < 80; i++) turns.push({role: i % 2 ? 'listener' : 'speaker', text: 'x'.repeat(300)});"
            "return recentTurns();"
        )
        assert 1 < len(sent) <= 40 and sent[0]["role"] == "speaker" and sum(len(t["text"]) for t in sent) <= 12_000
        shot = tmp_path / "web_page.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 5_000
    finally:
        driver.quit()


def test_latency_and_load_benchmarks_produce_rows(pipeline: EmpathyPipeline) -> None:
    from emocause.data.schema import Turn
    from emocause.service.benchmarks import latency_rows, load_test_rows, percentile

    assert percentile([3.0, 1.0, 2.0, 4.0, 5.0], 50) == 3.0 and percentile([1.0, 2.0], 95) == 2.0
    messages = [[Turn("speaker", "I lost my keys again.")], [Turn("speaker", "My sister is visiting!")]]
    latency = {r.metric: r for r in latency_rows(pipeline, messages, "tiny")}
    assert {"total_p50_seconds", "total_p95_seconds", "emotion_p50_seconds", "reply_p95_seconds"} <= set(
        latency
    )
    assert latency["total_p50_seconds"].n == 2 and latency["total_p50_seconds"].value > 0
    load = {
        r.metric: r
        for r in load_test_rows(pipeline, messages, "tiny", clients=4, seconds=2, port=free_port())
    }
    assert load["errors"].value == 0 and load["throughput_requests_per_second"].value > 0
    assert load["latency_p99_seconds"].value >= load["latency_p50_seconds"].value > 0
    assert load["peak_memory_mib"].value > 100


def test_terminal_chat_keeps_the_conversation(tiny_responder: Path) -> None:
    from typer.testing import CliRunner

    from emocause.cli import _register, app

    _register()
    args = ["chat", "--responder", str(tiny_responder), "--cause-turns-model", "none"]
    result = CliRunner().invoke(app, args, input="I failed my exam today.\nI studied so hard for it.\n\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("listener>") == 2 and "analysis of turn 2" in result.output
    assert result.output.count("strategy") == 2


def test_fault_load_benchmark_counts_errors_hangs_and_shedding(pipeline: EmpathyPipeline) -> None:
    from emocause.data.schema import Turn
    from emocause.service.benchmarks import fault_load_rows

    messages = [[Turn("speaker", "I lost my keys again.")], [Turn("speaker", "My sister is visiting!")]]
    config = ServiceConfig(max_batch=4, request_timeout_s=30)
    rows = {r.metric: r for r in fault_load_rows(pipeline, messages, "tiny", 4, 2.0, config, free_port())}
    assert (
        rows["errors"].value == 0
        and rows["hangs"].value == 0
        and rows["wrong_answers_to_bad_requests"].value == 0
    )
    assert rows["clean_latency_p95_seconds"].value > 0 and rows["fault_latency_p95_seconds"].value > 0
    assert 0 <= rows["shed_rate"].value <= 1 and rows["overload_errors"].value == 0
    assert "hanging" in rows["errors"].notes and rows["peak_memory_mib"].value > 100
