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
OTHER = "gw_test_key_for_another_worker"


@pytest.fixture(scope="module")
def base_url(answers: AnswerService, kb_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = kb_settings.model_copy(deep=True)
    settings.api.key_hashes = [hash_key(KEY), hash_key(OTHER)]
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
    """Issue 26 #12: no CSP or frame headers on /console. Issue 27: its script and styles are same-origin files."""
    r = httpx.get(f"{base_url}/console")
    csp = r.headers["content-security-policy"]
    assert r.status_code == 200 and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and r.headers["x-frame-options"] == "DENY"
    assert "<script>" not in r.text and "style=" not in r.text  # nothing inline for the policy to allow
    for asset in ("/static/console/console.js", "/static/console/console.css"):
        got = httpx.get(f"{base_url}{asset}")
        assert got.status_code == 200 and got.headers["x-content-type-options"] == "nosniff" and asset in r.text


# -- issue 27: what the console reads ---------------------------------------------------------------------------------
def other() -> dict[str, str]:
    return {"Authorization": f"Bearer {OTHER}"}


def ask_worker(base_url: str, question: str, conversation_id: str | None = None, headers=None) -> dict:  # type: ignore[no-untyped-def]
    body = {"question": question, "persona": "worker", "conversation_id": conversation_id}
    r = httpx.post(f"{base_url}/v1/ask", json=body, headers=headers or worker(), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_citations_name_their_document_not_a_path(base_url: str) -> None:
    a = ask_worker(base_url, "低保怎么申请")
    assert isinstance(a["turn_id"], int) and a["citations"]
    laws = [c for c in a["citations"] if c["level"] != "guide"]
    assert laws, a["citations"]
    for c in laws:
        assert len(c["doc_id"]) == 16 and c["doc_title"] and c["effective_date"][:2] in ("19", "20")
        assert c["level_zh"] in {"法律", "行政法规", "地方性法规（重庆）", "司法解释", "部门规章"}
    assert "source" in a["citations"][0]  # kept for existing clients
    resident = httpx.post(f"{base_url}/v1/ask", json={"question": "低保怎么申请"}, timeout=30).json()
    assert resident["turn_id"] is None  # only a worker's (keyed) turns are kept


def test_browse_a_category_a_document_and_its_articles(base_url: str) -> None:
    docs = httpx.get(f"{base_url}/v1/categories/c01-social-assistance/documents", headers=worker())
    assert docs.status_code == 200
    body = docs.json()
    assert body["category"]["name"] == "社会救助与最低生活保障"
    by_title = {d["title"]: d for d in body["documents"]}
    dibao = by_title["重庆市城乡居民最低生活保障条例"]
    assert dibao["level_zh"] == "地方性法规（重庆）" and dibao["effective_date"].startswith("20")
    assert dibao["articles"] > 30
    assert any(d["level"] == "guide" and d["level_zh"] == "工作指引" for d in body["documents"])
    doc = httpx.get(f"{base_url}/v1/documents/{dibao['doc_id']}", headers=worker())
    assert doc.status_code == 200
    arts = doc.json()["articles"]
    assert arts[0]["heading"] in ("序言", "第一条") and [a["heading"] for a in arts].index("第一条") < 3
    assert [a["heading"] for a in arts].index("第十条") < [a["heading"] for a in arts].index("第二十条")
    assert ".md" not in doc.text and "/work" not in doc.text and '"file"' not in doc.text and '"root"' not in doc.text
    guide = next(d for d in body["documents"] if d["title"] == "低保申请流程")
    sections = [a["heading"] for a in httpx.get(f"{base_url}/v1/documents/{guide['doc_id']}", headers=worker())
                .json()["articles"]]
    assert sections.index("适用情形") < sections.index("网格员怎么做") < sections.index("获批以后")  # reading order


@pytest.mark.parametrize(
    "path",
    ["/v1/categories/c99-nothing/documents", "/v1/categories/..%2F..%2Fetc/documents",
     "/v1/documents/0123456789abcdef", "/v1/documents/..%2F..%2F..%2Fetc%2Fpasswd", "/v1/documents/%2e%2e",
     "/v1/documents/c01-social-assistance%2F低保申请流程.md", "/v1/documents/..", "/v1/documents/c01-social-assistance",
     "/v1/conversations/no-such-conversation", "/v1/conversations/..%2F..%2Fx"],
)
def test_unknown_or_path_like_ids_are_a_404(base_url: str, path: str) -> None:
    r = httpx.get(f"{base_url}{path}", headers=worker())
    assert r.status_code == 404 and "root:" not in r.text and "最低生活保障" not in r.text


@pytest.mark.parametrize(
    "path",
    ["/v1/categories/c01-social-assistance/documents", "/v1/documents/0123456789abcdef", "/v1/conversations",
     "/v1/conversations/x", "/v1/feedback", "/v1/console/labels"],
)
def test_the_console_endpoints_need_a_worker_key(base_url: str, path: str) -> None:
    assert httpx.get(f"{base_url}{path}").status_code == 401
    assert httpx.get(f"{base_url}{path}", headers={"X-API-Key": "gw_wrong"}).status_code == 401


def test_a_conversation_is_kept_whole_and_only_for_its_key(base_url: str) -> None:
    first = ask_worker(base_url, "低保怎么申请")
    cid = first["conversation_id"]
    second = ask_worker(base_url, "那要带什么材料", cid)
    kept = httpx.get(f"{base_url}/v1/conversations/{cid}", headers=worker()).json()
    assert [t["question"] for t in kept["turns"]] == ["低保怎么申请", "那要带什么材料"]
    assert kept["turns"][1]["answer"] == second["answer"] and kept["turns"][0]["citations"][0]["label"]
    assert kept["turns"][0]["mode"] == "extractive" and kept["turns"][1]["turn_id"] == second["turn_id"]
    listing = httpx.get(f"{base_url}/v1/conversations", headers=worker()).json()
    assert listing[0]["conversation_id"] == cid and listing[0]["turns"] == 2 and listing[0]["title"] == "低保怎么申请"
    assert httpx.get(f"{base_url}/v1/conversations/{cid}", headers=other()).status_code == 404
    assert cid not in {c["conversation_id"] for c in httpx.get(f"{base_url}/v1/conversations", headers=other()).json()}
    theirs = ask_worker(base_url, "那要带什么材料", cid, headers=other())  # the same id under another key: a new thread
    assert "低保" not in theirs["condensed"]
    assert len(httpx.get(f"{base_url}/v1/conversations/{cid}", headers=worker()).json()["turns"]) == 2


def test_a_kept_conversation_continues_after_the_process_forgot_it(base_url: str, answers: AnswerService) -> None:
    """A restart (or the memory's idle expiry) loses the service's memory; the notebook gives it back."""
    from assistant.answering.conversation import ConversationStore

    first = ask_worker(base_url, "低保怎么申请")
    memory = answers.conversations
    answers.conversations = ConversationStore()
    try:
        again = ask_worker(base_url, "那要带什么材料", first["conversation_id"])
    finally:
        answers.conversations = memory
    assert "低保" in again["condensed"] and again["conversation_id"] == first["conversation_id"]


def test_feedback_lands_in_the_callers_review_list(base_url: str) -> None:
    a = ask_worker(base_url, "遛狗不拴绳怎么处罚")
    r = httpx.post(f"{base_url}/v1/feedback", json={"turn_id": a["turn_id"], "verdict": "not_useful",
                                                     "note": "没说罚款金额"}, headers=worker())
    assert r.status_code == 201 and r.json()["verdict"] == "not_useful"
    mine = httpx.get(f"{base_url}/v1/feedback", headers=worker()).json()
    entry = next(f for f in mine if f["turn_id"] == a["turn_id"])
    assert entry["question"] == "遛狗不拴绳怎么处罚" and entry["note"] == "没说罚款金额" and entry["at"]
    assert entry["answer_excerpt"] and a["answer"].startswith(entry["answer_excerpt"].rstrip("…"))
    again = httpx.post(f"{base_url}/v1/feedback", json={"turn_id": a["turn_id"], "verdict": "useful"}, headers=worker())
    assert again.status_code == 201  # a second verdict replaces the first
    assert [f["verdict"] for f in httpx.get(f"{base_url}/v1/feedback", headers=worker()).json()
            if f["turn_id"] == a["turn_id"]] == ["useful"]
    useful = httpx.get(f"{base_url}/v1/feedback", params={"verdict": "not_useful"}, headers=worker()).json()
    assert a["turn_id"] not in {f["turn_id"] for f in useful}
    assert a["turn_id"] not in {f["turn_id"] for f in httpx.get(f"{base_url}/v1/feedback", headers=other()).json()}
    stolen = httpx.post(f"{base_url}/v1/feedback", json={"turn_id": a["turn_id"], "verdict": "useful"}, headers=other())
    assert stolen.status_code == 404 and "没有找到" in stolen.json()["message"]


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [({"verdict": "useful", "note": "很" * 501}, 422, "最多 500 字"), ({"verdict": "great"}, 422, "格式"),
     ({"verdict": "useful", "turn_id": 99999999}, 404, "没有找到")],
)
def test_bad_feedback_is_refused_in_chinese(base_url: str, body: dict[str, object], status: int, fragment: str) -> None:
    turn = ask_worker(base_url, "低保怎么申请")["turn_id"]
    r = httpx.post(f"{base_url}/v1/feedback", json={"turn_id": turn} | body, headers=worker())
    assert r.status_code == status and fragment in r.json()["message"], r.text
    assert httpx.post(f"{base_url}/v1/feedback", json={"turn_id": turn, "verdict": "useful"}).status_code == 401


def test_console_labels_are_chinese(base_url: str) -> None:
    labels = httpx.get(f"{base_url}/v1/console/labels", headers=worker()).json()
    assert labels["modes"]["extractive"] == "条文摘录" and labels["refusals"]["no_evidence"]
    assert labels["levels"]["administrative-regulation"] == "行政法规"
    assert labels["report_statuses"]["in_progress"] == "处理中"
    assert labels["transitions"]["submitted"] == ["assigned", "closed"]


def test_a_refused_status_change_says_where_it_can_go_in_chinese(base_url: str) -> None:
    made = httpx.post(f"{base_url}/v1/reports", headers=worker() | {"Idempotency-Key": "k-board-move"},
                      json={"category": "noise", "location": {"text": "中山路3号"}, "description": "夜里广场舞"}).json()
    r = httpx.patch(f"{base_url}/v1/reports/{made['ticket']}", json={"status": "in_progress"}, headers=worker())
    assert r.status_code == 409
    assert r.json()["message"] == "工单当前为「已受理」，不能改为「处理中」；可以改为：已派单、已关闭。"
    ok = httpx.patch(f"{base_url}/v1/reports/{made['ticket']}", json={"status": "assigned"}, headers=worker())
    assert ok.status_code == 200 and ok.json()["status_zh"] == "已派单"


def test_api_docs_load_only_same_origin_assets(base_url: str) -> None:
    """/docs and /redoc used to load swagger-ui and redoc from a CDN: blank pages offline."""
    import re

    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{base_url}{page}").text
        assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        assert "cdn" not in html.lower() and "fonts.googleapis" not in html
        for asset in assets:
            if asset.startswith("/static/"):
                assert httpx.get(f"{base_url}{asset}").status_code == 200, asset
    assert httpx.get(f"{base_url}/docs/oauth2-redirect").status_code == 200
