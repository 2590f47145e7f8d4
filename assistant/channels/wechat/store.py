"""Channel state shared by every worker process and kept across restarts: message claims (exactly once: WeChat's
MsgIds, the webhook's message ids), results, answers waiting to be collected, the customer-service window per user,
and the session state of every deployment (the front desk's report flows, the answer service's conversations).

Redis when `GRIDWORKER_REDIS__URL` is set (several hosts); a local SQLite file otherwise (several processes on one
host; WAL mode, every change in one short transaction). Both implement `ChannelStore` (and so the front desk's
`ports.SessionStore`); `wiring.build_channel_store` builds one whether WeChat is configured or not. Redis that does
not answer within its short timeouts is `DependencyUnavailable` (translated here, where redis-py's errors enter).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar

from assistant.answering.conversation import Turn
from assistant.errors import DependencyUnavailable

if TYPE_CHECKING:
    import redis

P = ParamSpec("P")
T = TypeVar("T")


class ChannelStore(Protocol):
    def claim(self, key: str, owner: str, lease_s: float) -> bool:
        """True when the caller must run the job for `key`: nobody has, or the owner died (lease over, no result)."""
        ...

    def owner(self, key: str) -> str | None:
        """Who claimed `key` (host:pid:nonce), while the claim stands."""
        ...

    def take_over(self, key: str, owner: str, previous: str) -> bool:
        """Claim `key` from `previous` (a process that died); False when someone else got there first."""
        ...

    def attempt(self, key: str) -> int:
        """Counts the pushes of one message (WeChat's retries); returns this push's number, from 1."""
        ...

    def result(self, key: str) -> str | None: ...

    def set_result(self, key: str, text: str) -> None: ...

    def mark_delivered(self, key: str) -> bool:
        """True exactly once per key, and never after a passive reply: the one caller that may push the answer
        through customer service or keep it to collect."""
        ...

    def passive_reply(self, key: str, openid: str, head: str) -> tuple[str, bool] | None:
        """The text to answer this attempt with, or None when the answer went (or goes) out another way (pushed
        or kept). The user's kept answers are prepended (after `head`) and the composed text stored, in one
        transaction, so that a retry gets the same text: a passive reply is delivered only once WeChat has it,
        and WeChat retries only when it has not. The flag is True the first time (the rest of a long answer is
        sent then, once)."""
        ...

    def add_pending(self, openid: str, text: str) -> None: ...

    def take_pending(self, openid: str) -> list[str]: ...

    def open_window(self, openid: str) -> None:
        """A user message opens (or renews) the customer-service window."""
        ...

    def use_window(self, openid: str, hours: float, messages: int) -> bool:
        """Whether one more customer-service message may go to this user now; counts it when it may."""
        ...

    def get(self, name: str) -> dict[str, Any] | None: ...

    def put(self, name: str, value: dict[str, Any], ttl_s: float | None = None) -> None: ...


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._db().executescript(
            """
            CREATE TABLE IF NOT EXISTS jobs (key TEXT PRIMARY KEY, owner TEXT, claimed REAL, attempts INTEGER
                DEFAULT 0, result TEXT, delivered INTEGER DEFAULT 0, created REAL);
            CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, openid TEXT, text TEXT);
            CREATE INDEX IF NOT EXISTS pending_openid ON pending (openid);
            CREATE TABLE IF NOT EXISTS windows (openid TEXT PRIMARY KEY, opened REAL, used INTEGER);
            CREATE TABLE IF NOT EXISTS kv (name TEXT PRIMARY KEY, value TEXT, expires REAL);
            """
        )

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind: object, *_: object) -> None:
            self.db.execute("ROLLBACK" if kind else "COMMIT")

    def _tx(self) -> SQLiteStore._Tx:
        return SQLiteStore._Tx(self._db())

    def claim(self, key: str, owner: str, lease_s: float) -> bool:
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT owner, claimed, result FROM jobs WHERE key = ?", (key,)).fetchone()
            if row is None:
                sql = "INSERT INTO jobs (key, owner, claimed, created) VALUES (?, ?, ?, ?)"
                db.execute(sql, (key, owner, now, now))
                return True
            if row[2] is None and (row[1] is None or now - row[1] > lease_s):
                db.execute("UPDATE jobs SET owner = ?, claimed = ? WHERE key = ?", (owner, now, key))
                return True
            return False

    def owner(self, key: str) -> str | None:
        row = self._db().execute("SELECT owner FROM jobs WHERE key = ? AND result IS NULL", (key,)).fetchone()
        return None if row is None else row[0]

    def take_over(self, key: str, owner: str, previous: str) -> bool:
        with self._tx() as db:
            sql = "UPDATE jobs SET owner = ?, claimed = ? WHERE key = ? AND owner = ? AND result IS NULL"
            return db.execute(sql, (owner, time.time(), key, previous)).rowcount == 1

    def attempt(self, key: str) -> int:
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO jobs (key, created) VALUES (?, ?)", (key, now))
            db.execute("UPDATE jobs SET attempts = attempts + 1 WHERE key = ?", (key,))
            return int(db.execute("SELECT attempts FROM jobs WHERE key = ?", (key,)).fetchone()[0])

    def result(self, key: str) -> str | None:
        row = self._db().execute("SELECT result FROM jobs WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_result(self, key: str, text: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE jobs SET result = ? WHERE key = ?", (text, key))

    def mark_delivered(self, key: str) -> bool:
        with self._tx() as db:
            return db.execute("UPDATE jobs SET delivered = 1 WHERE key = ? AND delivered = 0", (key,)).rowcount == 1

    def passive_reply(self, key: str, openid: str, head: str) -> tuple[str, bool] | None:
        with self._tx() as db:  # delivered: 0 not yet, 1 pushed or kept, 2 answered passively (again on a retry)
            row = db.execute("SELECT result, delivered FROM jobs WHERE key = ?", (key,)).fetchone()
            if row is None or not row[0] or row[1] == 1:
                return None
            text, first = str(row[0]), row[1] == 0
            kept = [r[0] for r in db.execute("SELECT text FROM pending WHERE openid = ? ORDER BY id", (openid,))]
            if kept:
                db.execute("DELETE FROM pending WHERE openid = ?", (openid,))
                text = head + "\n\n".join(kept) + "\n\n" + text
            db.execute("UPDATE jobs SET delivered = 2, result = ? WHERE key = ?", (text, key))
            return text, first

    def add_pending(self, openid: str, text: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO pending (openid, text) VALUES (?, ?)", (openid, text))

    def take_pending(self, openid: str) -> list[str]:
        with self._tx() as db:
            rows = db.execute("SELECT id, text FROM pending WHERE openid = ? ORDER BY id", (openid,)).fetchall()
            db.execute("DELETE FROM pending WHERE openid = ?", (openid,))
            return [r[1] for r in rows]

    def open_window(self, openid: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO windows (openid, opened, used) VALUES (?, ?, 0)", (openid, time.time()))

    def use_window(self, openid: str, hours: float, messages: int) -> bool:
        with self._tx() as db:
            row = db.execute("SELECT opened, used FROM windows WHERE openid = ?", (openid,)).fetchone()
            if row is None or time.time() - row[0] > hours * 3600 or row[1] >= messages:
                return False
            db.execute("UPDATE windows SET used = used + 1 WHERE openid = ?", (openid,))
            return True

    def get(self, name: str) -> dict[str, Any] | None:
        row = self._db().execute("SELECT value, expires FROM kv WHERE name = ?", (name,)).fetchone()
        if row is None or (row[1] is not None and row[1] < time.time()):
            return None
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, name: str, value: dict[str, Any], ttl_s: float | None = None) -> None:
        expires = time.time() + ttl_s if ttl_s else None
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO kv (name, value, expires) VALUES (?, ?, ?)",
                       (name, json.dumps(value, ensure_ascii=False), expires))


def connect(url: str, connect_timeout_s: float = 0.5, timeout_s: float = 1.0) -> redis.Redis:
    """A Redis client that gives up quickly: a dead or hanging Redis costs a command at most two tries of
    `connect_timeout_s` and `timeout_s` (one retry, no backoff: it rides over the stale pooled connection a Redis
    restart leaves), not WeChat's 5-second window. It reconnects by itself when Redis is back."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=connect_timeout_s,
                                socket_timeout=timeout_s, retry=Retry(NoBackoff(), 1))


def translated(call: Callable[P, T]) -> Callable[P, T]:
    """Redis unreachable, too slow or read-only (during a failover) becomes DependencyUnavailable."""

    @functools.wraps(call)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        import redis

        try:
            return call(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as exc:
            raise DependencyUnavailable("redis", str(exc) or type(exc).__name__) from exc

    return guarded


@translated
def ping(client: redis.Redis) -> None:
    """Raises DependencyUnavailable when Redis does not answer (readiness)."""
    client.ping()


class RedisStore:
    """The same contract on Redis: SET NX for claims, a Lua-free read-check-write guarded by WATCH where needed."""

    def __init__(self, url: str, prefix: str = "gw:wx:", ttl_s: int = 7 * 86400, connect_timeout_s: float = 0.5,
                 timeout_s: float = 1.0) -> None:
        self.r = connect(url, connect_timeout_s, timeout_s)
        self.p = prefix
        self.ttl = ttl_s

    @translated
    def claim(self, key: str, owner: str, lease_s: float) -> bool:
        if self.r.exists(f"{self.p}result:{key}"):
            return False
        # the claim expires with its lease: a worker that died leaves the message to the next retry
        return bool(self.r.set(f"{self.p}claim:{key}", owner, nx=True, px=int(lease_s * 1000)))

    @translated
    def owner(self, key: str) -> str | None:
        value = self.r.get(f"{self.p}claim:{key}")
        return None if value is None else str(value)

    @translated
    def take_over(self, key: str, owner: str, previous: str) -> bool:
        import redis

        k = f"{self.p}claim:{key}"
        with self.r.pipeline() as pipe:
            try:
                pipe.watch(k)  # type: ignore[no-untyped-call]
                if pipe.get(k) != previous:
                    return False
                pipe.multi()
                pipe.set(k, owner, keepttl=True)
                pipe.execute()
                return True
            except redis.WatchError:
                return False

    @translated
    def attempt(self, key: str) -> int:
        k = f"{self.p}attempts:{key}"
        n = int(self.r.incr(k))
        self.r.expire(k, self.ttl)
        return n

    @translated
    def result(self, key: str) -> str | None:
        value = self.r.get(f"{self.p}result:{key}")
        return None if value is None else str(value)

    @translated
    def set_result(self, key: str, text: str) -> None:
        self.r.set(f"{self.p}result:{key}", text, ex=self.ttl)

    @translated
    def mark_delivered(self, key: str) -> bool:
        return bool(self.r.set(f"{self.p}delivered:{key}", "1", nx=True, ex=self.ttl))

    @translated
    def passive_reply(self, key: str, openid: str, head: str) -> tuple[str, bool] | None:
        import redis

        flag, res, kept_key = f"{self.p}delivered:{key}", f"{self.p}result:{key}", f"{self.p}pending:{openid}"
        with self.r.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(flag, res, kept_key)  # type: ignore[no-untyped-call]
                    state, text = pipe.get(flag), pipe.get(res)
                    if not text or state == "1":
                        pipe.unwatch()
                        return None
                    kept = [str(x) for x in pipe.lrange(kept_key, 0, -1)]
                    composed = head + "\n\n".join(kept) + "\n\n" + str(text) if kept else str(text)
                    pipe.multi()
                    pipe.set(flag, "2", ex=self.ttl)
                    pipe.set(res, composed, ex=self.ttl)
                    pipe.delete(kept_key)
                    pipe.execute()
                    return composed, state is None
                except redis.WatchError:
                    continue

    @translated
    def add_pending(self, openid: str, text: str) -> None:
        self.r.rpush(f"{self.p}pending:{openid}", text)
        self.r.expire(f"{self.p}pending:{openid}", self.ttl)

    @translated
    def take_pending(self, openid: str) -> list[str]:
        k = f"{self.p}pending:{openid}"
        pipe = self.r.pipeline()
        pipe.lrange(k, 0, -1)
        pipe.delete(k)
        items, _ = pipe.execute()
        return [str(x) for x in items]

    @translated
    def open_window(self, openid: str) -> None:
        self.r.hset(f"{self.p}window:{openid}", mapping={"opened": time.time(), "used": 0})
        self.r.expire(f"{self.p}window:{openid}", self.ttl)

    @translated
    def use_window(self, openid: str, hours: float, messages: int) -> bool:
        k = f"{self.p}window:{openid}"
        opened = self.r.hget(k, "opened")
        if opened is None or time.time() - float(opened) > hours * 3600:
            return False
        if int(self.r.hincrby(k, "used", 1)) > messages:
            self.r.hincrby(k, "used", -1)
            return False
        return True

    @translated
    def get(self, name: str) -> dict[str, Any] | None:
        value = self.r.get(f"{self.p}kv:{name}")
        return None if value is None else dict(json.loads(str(value)))

    @translated
    def put(self, name: str, value: dict[str, Any], ttl_s: float | None = None) -> None:
        self.r.set(f"{self.p}kv:{name}", json.dumps(value, ensure_ascii=False), ex=int(ttl_s) if ttl_s else None)


class PersistentConversations:
    """The answer service's conversation memory kept in the channel store: a resident's conversation survives a
    restart and is shared by every worker process. Same interface as answering.conversation.ConversationStore."""

    def __init__(self, store: ChannelStore, max_turns: int = 6, ttl_s: float = 1800.0) -> None:
        self.store = store
        self.max_turns = max_turns
        self.ttl_s = ttl_s

    @staticmethod
    def new_id() -> str:
        import uuid

        return uuid.uuid4().hex

    def history(self, conversation_id: str) -> list[Turn]:
        data = self.store.get(f"conv:{conversation_id}")
        return [Turn(t["q"], t["s"], t["a"], tuple(t["l"]), t["at"]) for t in (data or {}).get("turns", [])]

    def append(self, conversation_id: str, turn: Turn) -> None:
        turns = [*self.history(conversation_id), turn][-self.max_turns :]
        data = {"turns": [{"q": t.question, "s": t.standalone, "a": t.answer, "l": list(t.labels), "at": t.at}
                          for t in turns]}
        self.store.put(f"conv:{conversation_id}", data, self.ttl_s)
