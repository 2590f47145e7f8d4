"""Issue 26 #9 and #10 over real uvicorn servers: Redis configured but unreachable (a closed port, or a forwarder to
the real Redis that is cut and restored) — readiness says so, residents get 「请稍后再试」 instead of a 500, WeChat
gets its reply inside 5 s, and everything works again when Redis is back; and the rate buckets shared in Redis, so
that two processes together admit the burst once."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.answering.pipeline import AnswerService
from assistant.api.app import create_app
from assistant.prompts import default
from assistant.settings import RedisSettings, WeChatSettings
from tests.servers import serve
from tests.wechat_fake import FakeWeChat, text_xml

pytestmark = pytest.mark.integration
TOO_FAST, UNAVAILABLE = default().say("desk.too_fast"), default().say("desk.unavailable")
TOKEN = "gridworker-outage-token"
CLOSED = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once


class Switch:
    """A TCP forwarder on loopback to the real Redis that can be cut (listener closed, open connections dropped),
    hung (connections accepted, never answered) and restored on the same port: outages and a recovery without
    touching the shared Redis."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 6379)) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.conns: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.forward = True
        self.up()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def up(self, forward: bool = True) -> None:
        self.forward = forward
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self) -> None:
        for s in [self.listener, *self.conns]:
            if s is None:
                continue
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.listener, self.conns = None, []

    def hang(self) -> None:
        self.down()
        self.up(forward=False)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self.forward:
                self.conns.append(client)  # a black hole: nothing is read, nothing answered
                continue
            upstream = socket.create_connection(self.target)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def outage_settings(kb_settings, tmp_path: Path, url: str, prefix: str = "gw:outage:", **wechat: Any):  # type: ignore[no-untyped-def]
    s = kb_settings.model_copy(deep=True)
    s.redis = RedisSettings(url=url, prefix=prefix, retry_s=0.2)
    s.wechat = WeChatSettings(token=TOKEN, mode="plain", state_db=tmp_path / "wx.sqlite3", **wechat)
    s.reports.intent = "rules"
    return s


def fresh(answers: AnswerService) -> AnswerService:
    """An answer service of its own (the WeChat wiring sets its conversation store)."""
    return AnswerService(answers.retriever, answers.prompts, answers.settings, answers.llm_settings)


def ask(url: str, question: str = "低保怎么申请") -> httpx.Response:
    return httpx.post(f"{url}/v1/ask", json={"question": question}, timeout=30)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    import redis

    p = f"gw:test:{uuid.uuid4().hex[:8]}:"
    yield p
    r = redis.Redis.from_url(redis_url)
    for key in r.scan_iter(f"{p}*"):
        r.delete(key)


def test_every_channel_store_call_says_redis_is_unavailable() -> None:
    """Each method of the contract, on a Redis that refuses connections: DependencyUnavailable, fast."""
    from assistant.channels.wechat.store import ChannelStore, RedisStore
    from assistant.errors import DependencyUnavailable

    store = RedisStore(CLOSED)
    args: dict[str, tuple[Any, ...]] = {
        "claim": ("k", "o", 1.0), "owner": ("k",), "take_over": ("k", "o", "p"), "attempt": ("k",), "result": ("k",),
        "set_result": ("k", "t"), "mark_delivered": ("k",), "passive_reply": ("k", "o", "h"),
        "add_pending": ("o", "t"), "take_pending": ("o",), "open_window": ("o",), "use_window": ("o", 1.0, 1),
        "get": ("n",), "put": ("n", {}),
    }
    contract = {name for name in vars(ChannelStore) if not name.startswith("_")}
    assert contract == set(args)
    t = time.monotonic()
    for name, given in args.items():
        with pytest.raises(DependencyUnavailable, match="redis unavailable"):
            getattr(store, name)(*given)
    assert time.monotonic() - t < 2


def test_redis_down_is_not_ready_and_no_request_is_a_500(answers: AnswerService, kb_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 26 #9: the server started, /readyz said ready, then /v1/ask and /wechat answered 500."""
    settings = outage_settings(kb_settings, tmp_path, CLOSED)
    settings.api.rate_per_minute, settings.api.rate_burst = 1, 3
    with serve(create_app(settings, service=fresh(answers))) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200  # liveness: the process runs
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["redis"] == {"configured": True, "reachable": False}
        t = time.monotonic()
        r = ask(url)
        assert r.status_code == 503, r.text
        assert r.json()["error"] == "DependencyUnavailable" and "请稍后再试" in r.json()["message"]
        assert time.monotonic() - t < 2
        t = time.monotonic()
        reply = FakeWeChat(f"{url}/wechat", TOKEN).push(text_xml("o-outage-1", "低保怎么申请", 7001))
        assert reply == UNAVAILABLE and time.monotonic() - t < 5
        # the limiter falls back to this process's bucket: neither open to all nor closed to all
        codes = [httpx.get(f"{url}/v1/search", params={"q": "低保"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429], codes  # the burst of 3: one /v1/ask, two searches


def test_when_redis_comes_back_everything_works_again(  # type: ignore[no-untyped-def]
    answers: AnswerService, kb_settings, tmp_path: Path, prefix: str
) -> None:
    switch = Switch()
    settings = outage_settings(kb_settings, tmp_path, switch.url, prefix)
    try:
        with serve(create_app(settings, service=fresh(answers))) as url:
            wx = FakeWeChat(f"{url}/wechat", TOKEN)
            assert httpx.get(f"{url}/readyz").status_code == 200
            assert ask(url).status_code == 200
            assert "最低生活保障" in (wx.push(text_xml("o-outage-2", "低保怎么申请", 7101)) or "")

            switch.down()
            ready = httpx.get(f"{url}/readyz")
            assert ready.status_code == 503 and ready.json()["redis"]["reachable"] is False
            assert httpx.get(f"{url}/healthz").status_code == 200
            r = ask(url)
            assert r.status_code == 503 and "请稍后再试" in r.json()["message"]
            t = time.monotonic()
            assert wx.push(text_xml("o-outage-2", "养老保险怎么交", 7102)) == UNAVAILABLE
            assert time.monotonic() - t < 5

            switch.up()  # no restart: the same server
            assert httpx.get(f"{url}/readyz").status_code == 200
            assert ask(url).status_code == 200
            assert "最低生活保障" in (wx.push(text_xml("o-outage-2", "低保怎么申请", 7103)) or "")
    finally:
        switch.down()


def test_a_hanging_redis_cannot_eat_wechats_five_seconds(  # type: ignore[no-untyped-def]
    answers: AnswerService, kb_settings, tmp_path: Path, prefix: str
) -> None:
    """The client's timeouts are short (0.5 s to connect, 1 s a reply, one retry): a Redis that accepts connections
    and never answers costs a push about 2 s, not the whole window."""
    switch = Switch()
    settings = outage_settings(kb_settings, tmp_path, switch.url, prefix)
    try:
        with serve(create_app(settings, service=fresh(answers))) as url:
            assert httpx.get(f"{url}/readyz").status_code == 200
            switch.hang()
            t = time.monotonic()
            reply = FakeWeChat(f"{url}/wechat", TOKEN, attempts=1).push(text_xml("o-outage-5", "低保怎么申请", 7201))
            took = time.monotonic() - t
            assert reply == UNAVAILABLE and took < 4, (reply, took)
            t = time.monotonic()
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 503 and time.monotonic() - t < 4
    finally:
        switch.down()


def test_the_shared_bucket_falls_back_per_process_and_comes_back(redis_url: str, prefix: str) -> None:
    """Redis down: this process's own bucket (neither open nor closed); back after `retry_s`: shared again."""
    from assistant.channels.wechat.store import connect
    from assistant.ratelimit import SharedRateLimiter

    switch = Switch()
    try:
        limiter = SharedRateLimiter(connect(switch.url), f"{prefix}rate:t:", per_minute=1, burst=2, retry_s=0.3)
        assert [limiter.allow("ip:a")[0] for _ in range(3)] == [True, True, False]
        switch.down()
        assert [limiter.allow("ip:b")[0] for _ in range(3)] == [True, True, False]  # per process while down
        switch.up()
        time.sleep(0.4)
        allowed, wait = limiter.allow("ip:a")
        assert not allowed and 0 < wait <= 60  # the bucket in Redis again: ip:a spent its burst before the outage
        assert limiter.allow("ip:c")[0]
    finally:
        switch.down()


def test_two_processes_share_one_api_bucket(answers: AnswerService, kb_settings, tmp_path: Path, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """Issue 26 #10: each process had its own bucket, so two let through twice the burst."""
    from assistant.api.security import hash_key

    settings = outage_settings(kb_settings, tmp_path, "redis://127.0.0.1:6379/0", prefix)
    settings.api.rate_per_minute, settings.api.rate_burst = 1, 3
    settings.api.key_hashes = [hash_key("gw_outage_key")]
    with serve(create_app(settings, service=fresh(answers))) as a, \
            serve(create_app(settings, service=fresh(answers))) as b:
        codes = [httpx.get(f"{url}/v1/search", params={"q": "低保"}).status_code for url in (a, b) * 4]
        # another client (a worker's key) has a bucket of its own, shared as well
        keyed = [httpx.get(f"{url}/v1/search", params={"q": "低保"}, headers={"X-API-Key": "gw_outage_key"}
                           ).status_code for url in (b, a) * 3]
    assert codes.count(200) == 3 and codes.count(429) == 5, codes
    assert keyed.count(200) == 3 and keyed.count(429) == 3, keyed
    import redis

    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    buckets = list(r.scan_iter(f"{prefix}rate:*"))
    assert len(buckets) == 2 and all(0 < r.ttl(k) <= 3600 for k in buckets)  # forgotten when idle
    assert not any(b"gw_outage_key" in k or b"127.0.0.1" in k for k in buckets)  # no key or address in Redis


def test_two_processes_share_one_wechat_bucket_per_resident(  # type: ignore[no-untyped-def]
    answers: AnswerService, kb_settings, tmp_path: Path, prefix: str
) -> None:
    settings = outage_settings(kb_settings, tmp_path, "redis://127.0.0.1:6379/0", prefix, rate_per_minute=1,
                               rate_burst=2)
    base = int(uuid.uuid4().int % 10**9) * 10
    with serve(create_app(settings, service=fresh(answers))) as a, \
            serve(create_app(settings, service=fresh(answers))) as b:
        replies = [FakeWeChat(f"{url}/wechat", TOKEN).push(text_xml("o-outage-3", "低保怎么申请", base + i))
                   for i, url in enumerate((a, b) * 2)]
        other = FakeWeChat(f"{b}/wechat", TOKEN).push(text_xml("o-outage-4", "低保怎么申请", base + 9))
    assert [r == TOO_FAST for r in replies] == [False, False, True, True], replies
    assert other and "最低生活保障" in other  # another resident's bucket is their own
