"""The HTTP API over a real uvicorn server on loopback, extractive back-end, the session's knowledge base."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from assistant.answering.pipeline import AnswerService
from assistant.api.app import create_app
from assistant.api.security import hash_key
from tests.servers import serve

pytestmark = pytest.mark.integration
KEY = "gw_test_key_for_workers"


@pytest.fixture(scope="module")
def base_url(answers: AnswerService, kb_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = kb_settings.model_copy(deep=True)
    settings.api.key_hashes = [hash_key(KEY)]
    settings.api.rate_per_minute, settings.api.rate_burst = 600, 40
    with serve(create_app(settings, service=answers)) as url:
        yield url


def worker() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}"}


def test_resident_and_worker_answers_differ(base_url: str) -> None:
    r = httpx.post(f"{base_url}/v1/ask", json={"question": "低保怎么申请", "persona": "resident"}, timeout=30)
    w = httpx.post(f"{base_url}/v1/ask", json={"question": "低保怎么申请", "persona": "worker"}, headers=worker(),
                   timeout=30)
    assert r.status_code == 200 and w.status_code == 200
    rj, wj = r.json(), w.json()
    assert rj["mode"] == wj["mode"] == "extractive"
    assert rj["answer"] != wj["answer"] and rj["citations"] and wj["citations"]
    assert set(rj) >= {"answer", "citations", "mode", "refused", "emergency", "conversation_id", "timings"}
    assert set(rj["citations"][0]) >= {"label", "title", "article", "text", "source"}
    assert all(c["audience"] == "public" for c in rj["citations"])


def test_worker_persona_needs_a_key(base_url: str) -> None:
    body = {"question": "低保怎么申请", "persona": "worker"}
    missing = httpx.post(f"{base_url}/v1/ask", json=body)
    wrong = httpx.post(f"{base_url}/v1/ask", json=body, headers={"X-API-Key": "gw_wrong"})
    assert missing.status_code == wrong.status_code == 401
    assert "网格员" in missing.json()["message"] and "密钥" in wrong.json()["message"]
    assert httpx.get(f"{base_url}/v1/whoami", headers=worker()).json() == {"role": "worker"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [({"question": "   "}, "请输入"), ({"question": "问" * 501}, "500"),
     ({"question": "低保", "persona": "boss"}, "格式"), ({"nope": 1}, "格式")],
)
def test_bad_input_is_a_clear_422(base_url: str, body: dict[str, object], fragment: str) -> None:
    r = httpx.post(f"{base_url}/v1/ask", json=body)
    assert r.status_code == 422 and fragment in r.json()["message"]


def test_malformed_json_is_422_not_500(base_url: str) -> None:
    r = httpx.post(f"{base_url}/v1/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_stream_sends_meta_then_answer(base_url: str) -> None:
    with httpx.stream("POST", f"{base_url}/v1/ask/stream", json={"question": "遛狗不拴绳怎么处罚"}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line[7:] for line in r.iter_lines() if line.startswith("event: ")]
        r.close()
    assert events[0] == "meta" and events[-1] == "answer"


def test_stream_rejects_bad_input_before_streaming(base_url: str) -> None:
    assert httpx.post(f"{base_url}/v1/ask/stream", json={"question": ""}).status_code == 422


def test_conversation_follow_up_over_http(base_url: str) -> None:
    first = httpx.post(f"{base_url}/v1/ask", json={"question": "低保怎么申请"}, timeout=30).json()
    second = httpx.post(f"{base_url}/v1/ask", json={"question": "那要带什么材料",
                                                     "conversation_id": first["conversation_id"]}, timeout=30).json()
    assert second["conversation_id"] == first["conversation_id"] and "低保" in second["condensed"]


def test_search_health_ready_metrics_docs(base_url: str) -> None:
    s = httpx.get(f"{base_url}/v1/search", params={"q": "低保申请流程", "k": 5})
    assert s.status_code == 200 and all(h["audience"] == "public" for h in s.json()["hits"])
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base_url}/readyz").json()
    assert ready["ready"] and ready["index_points"] > 18000 and ready["llm"]["configured"] is False
    metrics = httpx.get(f"{base_url}/metrics").text
    assert "gridworker_http_requests_total" in metrics and "gridworker_answers_total" in metrics
    spec = httpx.get(f"{base_url}/openapi.json").json()
    assert {"/v1/ask", "/v1/ask/stream", "/v1/search", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert len(httpx.get(f"{base_url}/v1/categories").json()) == 48
    assert "网格员控制台" in httpx.get(f"{base_url}/console").text


def test_rate_limit_is_a_429_in_chinese(answers: AnswerService, kb_settings) -> None:  # type: ignore[no-untyped-def]
    settings = kb_settings.model_copy(deep=True)
    settings.api.rate_per_minute, settings.api.rate_burst = 1, 2
    with serve(create_app(settings, service=answers)) as url:
        codes = [httpx.post(f"{url}/v1/ask", json={"question": "低保"}).status_code for _ in range(4)]
        last = httpx.post(f"{url}/v1/ask", json={"question": "低保"})
    assert codes[:2] == [200, 200] and 429 in codes[2:]
    assert last.status_code == 429 and "太快" in json.loads(last.text)["message"] and last.headers["retry-after"]


@pytest.mark.parametrize(
    "bad",
    [{"category": "nuclear"}, {"location": {"text": "路" * 300}}, {"location": {"text": "解放路", "latitude": 999}},
     {"occurred_at": "昨" * 100}, {"urgency": "whenever"}, {"description": ""}],
)
def test_a_bad_report_value_is_a_422_in_chinese_not_a_500(base_url: str, bad: dict[str, object]) -> None:
    """Issue 26 #3: the intake is the domain's schema, so a bad value is refused at the edge."""
    body = {"category": "noise", "location": {"text": "解放路12号"}, "description": "半夜施工"} | bad
    r = httpx.post(f"{base_url}/v1/reports", json=body, headers=worker() | {"Idempotency-Key": f"k-{hash(str(bad))}"})
    assert r.status_code == 422 and "请求格式不正确" in r.json()["message"], r.text
    good = httpx.post(f"{base_url}/v1/reports", headers=worker() | {"Idempotency-Key": "k-good"},
                      json={"category": "noise", "location": {"text": "解放路12号"}, "description": "半夜施工"})
    assert good.status_code in (200, 201) and good.json()["ticket"].startswith("GW")


def test_a_reused_idempotency_key_with_another_report_is_refused(base_url: str) -> None:
    """Issue 26 #4: same key + same body is the first result; same key + a different body is a 409 that says so."""
    body = {"category": "noise", "location": {"text": "民权路8号"}, "description": "凌晨两点还在施工"}
    headers = worker() | {"Idempotency-Key": "k-reused"}
    first = httpx.post(f"{base_url}/v1/reports", json=body, headers=headers)
    again = httpx.post(f"{base_url}/v1/reports", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200 and again.json()["ticket"] == first.json()["ticket"]
    other = httpx.post(f"{base_url}/v1/reports", json=body | {"description": "路灯坏了"}, headers=headers)
    assert other.status_code == 409 and "幂等键" in other.json()["message"]


def test_a_conversation_is_the_callers_own(base_url: str) -> None:
    """Issue 26 #6: naming another caller's conversation id (or the WeChat channel's wx: ids) does not continue it."""
    mine = httpx.post(f"{base_url}/v1/ask", json={"question": "低保怎么申请", "persona": "worker"},
                      headers=worker(), timeout=30).json()
    assert len(mine["conversation_id"]) >= 16  # issued by the server, unguessable
    theirs = httpx.post(f"{base_url}/v1/ask", json={"question": "那要带什么材料",
                                                     "conversation_id": mine["conversation_id"]}, timeout=30).json()
    assert "低保" not in theirs["condensed"]  # another caller (no key) does not see the worker's question
    again = httpx.post(f"{base_url}/v1/ask", json={"question": "那要带什么材料", "persona": "worker",
                                                    "conversation_id": mine["conversation_id"]},
                       headers=worker(), timeout=30).json()
    assert "低保" in again["condensed"] and again["conversation_id"] == mine["conversation_id"]
    wx = httpx.post(f"{base_url}/v1/ask", json={"question": "那要带什么材料", "conversation_id": "wx:o-someone"},
                    timeout=30).json()
    assert wx["conversation_id"] == "wx:o-someone" and "低保" not in wx["condensed"]


def test_a_rotated_forwarded_header_does_not_dodge_the_rate_limit(answers: AnswerService, kb_settings) -> None:  # type: ignore[no-untyped-def]
    """Issue 26 #10: uvicorn believed X-Forwarded-For from 127.0.0.1, so a loopback client rotating it got a fresh
    bucket each time. Served as `gridworker serve` serves (its uvicorn options), the header is not believed."""
    from assistant.cli import _edge

    settings = kb_settings.model_copy(deep=True)
    settings.api.rate_per_minute, settings.api.rate_burst = 1, 2
    with serve(create_app(settings, service=answers), **_edge(settings)) as url:
        codes = [httpx.get(f"{url}/v1/search", params={"q": "低保"},
                            headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(5)]
    assert 429 in codes, codes


def test_an_oversized_body_is_a_413_whether_declared_or_streamed(base_url: str) -> None:
    """Issue 26 #7: a 100 MB JSON body to /v1/ask was read whole."""
    big = b'{"question": "' + b"a" * (2 * 2**20) + b'"}'
    r = httpx.post(f"{base_url}/v1/ask", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "太大" in r.json()["message"]

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"question": "'
        for _ in range(64):
            yield b"a" * 65536
        yield b'"}'

    streamed = httpx.post(f"{base_url}/v1/ask", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert httpx.post(f"{base_url}/v1/ask", json={"question": "低保怎么申请"}, timeout=30).status_code == 200


def test_the_console_cannot_be_framed_and_runs_only_its_own_script(base_url: str) -> None:
    """Issue 26 #12: no CSP or frame headers on /console."""
    r = httpx.get(f"{base_url}/console")
    csp = r.headers["content-security-policy"]
    assert r.status_code == 200 and "frame-ancestors 'none'" in csp and "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0] and r.headers["x-frame-options"] == "DENY"
