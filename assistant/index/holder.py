"""Who holds an embedded index. Qdrant Edge locks a shard for one process (its WAL); another process that opens it
gets `WouldBlock`. The process that opens a shard records itself beside it (pid, command, since, whether it writes,
and for a server the address it serves on), so that another process can say in plain words what holds the index
and what to do, and a reader can open a snapshot of an index that a server holds (a server never writes to it).

The record is advisory: the lock itself is Qdrant's. A record whose process is gone is ignored."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

RECORD = ".holder.json"
_advertised: dict[str, str] = {}


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    since: float
    writes: bool
    url: str = ""
    wechat_token: str = ""  # a server's one-off WeChat token when none is configured (`gridworker wechat-say`)

    def describe(self) -> str:
        """In plain words, for the lock error: what holds the index."""
        started = time.strftime("%H:%M", time.localtime(self.since))
        where = f"，地址 {self.url}" if self.url else ""
        return f"进程 {self.pid}（{self.command}，{started} 启动{where}）"


def advertise(url: str, wechat_token: str = "") -> None:
    """Called by `gridworker serve` before the app opens the index: the record will carry these."""
    _advertised.update(url=url, wechat_token=wechat_token)


def claim(shard: Path, *, writes: bool) -> None:
    """Record this process as the holder of `shard` (just opened). Readable by the owner only: it may carry a
    one-off token."""
    argv = [Path(sys.argv[0]).name, *sys.argv[1:2]] if sys.argv and sys.argv[0] else ["python"]
    record = Holder(os.getpid(), " ".join(argv), time.time(), writes,
                    _advertised.get("url", ""), _advertised.get("wechat_token", ""))
    path = shard / RECORD
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(record), f, ensure_ascii=False)
    os.replace(tmp, path)


def release(shard: Path) -> None:
    """Remove the record if it is this process's."""
    held = _read(shard)
    if held is not None and held.pid == os.getpid():
        with contextlib.suppress(OSError):
            (shard / RECORD).unlink()


def current(shard: Path) -> Holder | None:
    """The live holder of `shard`, or None (no record, a broken one, or its process is gone)."""
    held = _read(shard)
    if held is None or held.pid == os.getpid() or not psutil.pid_exists(held.pid):
        return None
    return held


def _read(shard: Path) -> Holder | None:
    try:
        data = json.loads((shard / RECORD).read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["command"]), float(data["since"]), bool(data["writes"]),
                      str(data.get("url", "")), str(data.get("wechat_token", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
