"""The WeChat channel under load: N simulated residents push messages concurrently to a real `gridworker serve`
(uvicorn, embedded defaults, full knowledge base) on loopback, signed as WeChat signs them (plain mode).

    python -m bench.wechat [--residents 50] [--messages 4]

Residents behave like people: they start within the first few seconds and take `--think` seconds (1–3 s) between
messages; `--think 0 0` is the synchronised worst case (every resident sends at the same instant).
Prints callback latency (p50/p99/max) for the passive path, lost messages (no reply after WeChat's 3 attempts),
duplicate answers (a message answered more than once), and replies outside the 5-second window. The `/healthz`
round trip under the same concurrency is the baseline. Bars: p99 ≤ 300 ms, 0 lost, 0 duplicates, all inside 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.common import PROJECT_CORPUS, gridworker_server, ingest_folders, percentile, temp_settings
from tests.wechat_fake import FakeWeChat, text_xml

DATA = Path(__file__).resolve().parent.parent / "eval" / "data"
TOKEN = "bench-wechat-token"


async def resident(http: httpx.AsyncClient, wx: FakeWeChat, openid: str, questions: list[str], base_id: int,
                   lat: list[float], outcome: dict[str, list[str]], think: tuple[float, float]) -> None:
    await asyncio.sleep(random.uniform(0, think[1]))  # residents do not all press send in the same millisecond
    for i, q in enumerate(questions):
        msg_id = base_id + i
        query, body = wx.request(text_xml(openid, q, msg_id))
        replies = []
        for _ in range(3):  # WeChat's attempts
            t = time.perf_counter()
            try:
                r = await http.post(f"{wx.url}?{urlencode(query)}", content=body, timeout=5.0)
            except httpx.TimeoutException:
                continue
            lat.append((time.perf_counter() - t) * 1000)
            if r.status_code == 200 and r.text not in ("", "success"):
                replies.append(wx.read_reply(r.text))
            break
        outcome[f"{openid}:{msg_id}"] = replies
        await asyncio.sleep(random.uniform(*think))  # reading the answer, typing the next message


async def run(url: str, residents: int, messages: int, think: tuple[float, float]) -> None:
    rows = [json.loads(x) for x in (DATA / "retrieval.resident.dev.jsonl").read_text("utf-8").splitlines() if x]
    questions = [r["question"] for r in rows]
    wx = FakeWeChat(f"{url}/wechat", TOKEN)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=residents * 2)) as http:
        base: list[float] = []
        t = time.perf_counter()

        async def ping() -> None:
            for _ in range(messages):
                s = time.perf_counter()
                await http.get(f"{url}/healthz")
                base.append((time.perf_counter() - s) * 1000)

        await asyncio.gather(*(ping() for _ in range(residents)))
        print(f"baseline /healthz, {residents} concurrent clients: p50 {percentile(base, 50):.1f} ms, "
              f"p99 {percentile(base, 99):.1f} ms")

        lat: list[float] = []
        outcome: dict[str, list[str]] = {}
        random.seed(7)
        t = time.perf_counter()
        await asyncio.gather(*(
            resident(http, wx, f"o-bench-{n:03d}", random.sample(questions, messages), 10_000_000 + n * 100, lat,
                     outcome, think)
            for n in range(residents)
        ))
        wall = time.perf_counter() - t
    lost = sum(1 for r in outcome.values() if not r)
    dupes = sum(1 for r in outcome.values() if len(r) > 1)
    late = sum(1 for x in lat if x > 5000)
    print(f"\n{residents} residents × {messages} messages, think time {think[0]}–{think[1]} s: "
          f"{len(outcome)} messages in {wall:.1f} s "
          f"({len(outcome) / wall:.1f} msg/s)")
    print(f"  callback latency: p50 {percentile(lat, 50):.1f} ms, p99 {percentile(lat, 99):.1f} ms, "
          f"max {max(lat):.1f} ms   [bar: p99 ≤ 300 ms]")
    print(f"  lost {lost}, duplicate answers {dupes}, replies after 5 s {late}   [bars: 0, 0, 0]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=50)
    parser.add_argument("--messages", type=int, default=4)
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                        help="seconds a resident waits between messages (and the spread of their first message)")
    parser.add_argument("--workers", type=int, default=1,
                        help="uvicorn worker processes (more than 1 needs a Qdrant server: Edge is one process)")
    args = parser.parse_args()
    settings = temp_settings()
    comp, seconds = ingest_folders(settings, [PROJECT_CORPUS, settings.corpus_dir])
    comp.close()
    print(f"index ready in {seconds:.1f} s at {settings.index_dir}")
    env = {"GRIDWORKER_WECHAT__TOKEN": TOKEN, "GRIDWORKER_WECHAT__RATE_PER_MINUTE": "1000",
           "GRIDWORKER_WECHAT__RATE_BURST": "1000", "GRIDWORKER_API__KEY_HASHES": json.dumps(["0" * 64])}
    with gridworker_server(settings.index_dir, env, args.workers) as url:
        print(f"server: gridworker serve --workers {args.workers}")
        asyncio.run(run(url, args.residents, args.messages, tuple(args.think)))


if __name__ == "__main__":
    main()
