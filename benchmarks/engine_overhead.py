"""Engine overhead: slant's engine against a bare AsyncOpenAI + asyncio loop on the same 2,016 requests.

Both send the same raw-completion requests (ChatML written out, assistant prefill, 20 top logprobs)
to the instant server at the same concurrency, and store one response row and one attempt row per
request with sqlite-utils. The ratio compares requests/s of the sending-and-storing phase (what the
bare loop does). The whole `audit()` (expansion, scoring and statistics) is timed too, for the record.

    python benchmarks/engine_overhead.py [--connections 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import sqlite_utils
import yaml
from common import ROOT, instant_server, result, store_rows, timed
from openai import AsyncOpenAI

from slant import audit
from slant.api import plan
from slant.run import execute
from slant.spec import load_campaign
from slant.store import open_db
from slant.targets import Request, resolve_target
from slant.targets.openai_compat import render_chatml

AGES = [18, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85]


def campaign_file(tmp: Path, name: str = "overhead", ages: list[int] = AGES) -> Path:
    """18 decision scenarios × 14 ages × 2 genders × 4 races = 2,016 probes (explicit cue)."""
    spec = {
        "name": name,
        "target": "openai-compat/instant",
        "prefill": "chatml",
        "db": str(tmp / f"{name}.db"),
        "probes": [
            {
                "family": "decision",
                "name": "decisions",
                "scenarios": str(ROOT / "scenarios" / "decisions" / "*.yaml"),
                "demographics": {
                    "age": ages,
                    "gender": ["male", "female"],
                    "race": ["white", "Black", "Asian", "Hispanic"],
                },
                "cues": ["explicit"],
            }
        ],
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def requests_of(path: Path, url: str, scope: str) -> dict[str, Request]:
    c = load_campaign(path)
    target = resolve_target(c.target, url, c.prefill)
    return {k: r for ps in plan(c, target, scope=scope) for reqs in ps.requests.values() for k, r in reqs}


async def slant_engine(path: Path, url: str, db_path: Path, connections: int, scope: str) -> float:
    c = load_campaign(path)
    target = resolve_target(c.target, url, c.prefill)
    requests = requests_of(path, url, scope)
    db = open_db(db_path)
    async with target:
        start = time.perf_counter()
        stats = await execute(db, target, requests, scope=scope, max_connections=connections, progress=False)
        seconds = time.perf_counter() - start
    assert stats.succeeded == len(requests), stats
    return len(requests) / seconds


async def bare_loop(requests: dict[str, Request], url: str, db_path: Path, connections: int) -> float:
    client = AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
    db = sqlite_utils.Database(db_path)
    db.enable_wal()
    responses: list[dict] = []
    attempts: list[dict] = []
    semaphore = asyncio.Semaphore(connections)

    def flush() -> None:
        store_rows(db, responses, attempts)

    async def one(key: str, r: Request) -> None:
        async with semaphore:
            t0 = time.perf_counter()
            out = await client.completions.create(
                model="instant",
                prompt=render_chatml(r.messages, r.prefill),
                max_tokens=r.max_tokens,
                temperature=r.temperature,
                seed=r.seed,
                logprobs=r.top_logprobs,
                stop=["<|im_end|>"],
            )
        ms = (time.perf_counter() - t0) * 1000
        choice = out.choices[0]
        responses.append(
            {
                "key": key,
                "request": json.dumps(r.canonical()),
                "text": choice.text,
                "top_logprobs": json.dumps([dict(p) for p in choice.logprobs.top_logprobs]),
                "usage": json.dumps(out.usage.model_dump()),
                "latency_ms": ms,
            }
        )
        attempts.append({"key": key, "attempt": 0, "ok": 1, "latency_ms": ms})
        if len(responses) >= 200:
            flush()

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for k, r in requests.items():
            group.create_task(one(k, r))
    flush()
    seconds = time.perf_counter() - start
    await client.close()
    return len(requests) / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, instant_server() as url:
        tmp_path = Path(tmp)
        path = campaign_file(tmp_path)
        slant_rates, bare_rates = [], []
        for i in range(a.rounds):  # interleaved, who goes first alternating: load drift hits both alike
            requests = requests_of(path, url, f"bare{i}")
            for who in ("bare", "slant") if i % 2 == 0 else ("slant", "bare"):
                db_path = tmp_path / f"{who}{i}.db"
                if who == "bare":
                    bare_rates.append(asyncio.run(bare_loop(requests, url, db_path, a.connections)))
                else:
                    slant_rates.append(asyncio.run(slant_engine(path, url, db_path, a.connections, f"s{i}")))
        with timed() as whole:
            run = audit(path, base_url=url, progress=False, max_connections=a.connections)
        n = len(requests)
        bare, mine = statistics.median(bare_rates), statistics.median(slant_rates)
        print(f"{n} requests, {a.connections} connections, {a.rounds} rounds (median)")
        print(f"bare AsyncOpenAI loop : {bare:8.0f} requests/s   rounds: {[round(x) for x in bare_rates]}")
        print(f"slant engine          : {mine:8.0f} requests/s   rounds: {[round(x) for x in slant_rates]}")
        print(
            f"slant audit() end to end (plan + send + score + statistics): {whole['seconds']:.1f} s "
            f"= {run.n_requests / whole['seconds']:.0f} requests/s"
        )
        result("engine_overhead", "ratio", mine / bare, 0.95)


if __name__ == "__main__":
    main()
