"""`/v1/ask` over HTTP, extractive mode, full knowledge base (guides + shared corpus), a real `gridworker serve`
(uvicorn, one worker process) on loopback, the client in this process.

    python -m bench.api [--requests 400] [--concurrency 20]

Prints server-side p50/p99 (the answer's own `timings.total`) and client-side latency for one client, then
throughput with N concurrent clients; `/healthz` (the HTTP stack alone) and `/v1/search` (retrieval alone) are
measured the same way in the same run as baselines. Bars: server-side p50 ≤ 50 ms, p99 ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx

from assistant.api.security import hash_key
from bench.common import PROJECT_CORPUS, gridworker_server, ingest_folders, percentile, temp_settings

DATA = Path(__file__).resolve().parent.parent / "eval" / "data"
KEY = "gw_bench_key"


def questions() -> list[tuple[str, str]]:
    rows = [json.loads(x) for x in (DATA / "retrieval.resident.dev.jsonl").read_text("utf-8").splitlines() if x]
    out = [(r["question"], "resident") for r in rows]
    out += [(r["question"], "worker") for r in rows[::3]]
    return out



async def load(url: str, make: list[tuple[str, str, dict | None]], concurrency: int) -> tuple[float, list[float], int]:
    """Send the requests with `concurrency` clients; (wall seconds, client latencies ms, non-2xx count)."""
    queue: asyncio.Queue[tuple[str, str, dict | None]] = asyncio.Queue()
    for item in make:
        queue.put_nowait(item)
    lat: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {KEY}"}

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            method, path, body = queue.get_nowait()
            t = time.perf_counter()
            r = await http.request(method, url + path, json=body, headers=headers)
            lat.append((time.perf_counter() - t) * 1000)
            errors += r.status_code >= 300

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        t = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        return time.perf_counter() - t, lat, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    settings = temp_settings()
    comp, seconds = ingest_folders(settings, [PROJECT_CORPUS, settings.corpus_dir])
    points = comp.index.count()
    comp.close()
    print(f"index: {points} points in {seconds:.1f} s at {settings.index_dir}")

    env = {"GRIDWORKER_API__KEY_HASHES": json.dumps([hash_key(KEY)]),
           "GRIDWORKER_API__RATE_PER_MINUTE": "100000000", "GRIDWORKER_API__RATE_BURST": "100000000"}
    with gridworker_server(settings.index_dir, env) as url:
        qs = questions()
        asks = [("POST", "/v1/ask", {"question": q, "persona": p}) for q, p in qs]
        for _ in range(2):  # warm-up
            for item in asks[:10]:
                httpx.request(item[0], url + item[1], json=item[2], headers={"Authorization": f"Bearer {KEY}"})

        server_ms, client_ms = [], []
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {KEY}"}) as http:
            for _ in range(2):
                for _, path, body in asks:
                    t = time.perf_counter()
                    r = http.post(url + path, json=body)
                    client_ms.append((time.perf_counter() - t) * 1000)
                    server_ms.append(r.json()["timings"]["total"])
        print(f"\n/v1/ask, one client, {len(server_ms)} requests ({len(qs)} questions × 2, resident and worker):")
        print(f"  server-side p50 {percentile(server_ms, 50):.1f} ms, p99 {percentile(server_ms, 99):.1f} ms"
              "   [bars: p50 ≤ 50 ms, p99 ≤ 200 ms]")
        print(f"  client-side p50 {percentile(client_ms, 50):.1f} ms, p99 {percentile(client_ms, 99):.1f} ms")

        n, c = args.requests, args.concurrency
        plans = {
            "/healthz (HTTP stack only)": [("GET", "/healthz", None)] * n,
            "/v1/search (retrieval only)": [("GET", f"/v1/search?q={q}&k=10", None) for q, _ in (qs * 10)[:n]],
            "/v1/ask (extractive answer)": (asks * 10)[:n],
        }
        print(f"\n{c} concurrent clients, {n} requests per endpoint "
              "(one uvicorn worker; client and server share 2 cores):")
        base = None
        for name, plan in plans.items():
            wall, lat, errors = asyncio.run(load(url, plan, c))
            rps = len(plan) / wall
            base = base or rps
            print(f"  {name:30s} {rps:7.1f} req/s  ({rps / base:.2f}× healthz)  p50 {percentile(lat, 50):6.1f} ms"
                  f"  p99 {percentile(lat, 99):6.1f} ms  errors {errors}")


if __name__ == "__main__":
    main()
