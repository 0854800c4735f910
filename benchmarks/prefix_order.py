"""Prefix order on the embedded model: the same requests sent in random order and sorted by prompt.

llama.cpp keeps the previous prompt's evaluated tokens and only evaluates what differs, so prompts that
share a long prefix are cheaper when they follow each other (vLLM's prefix cache works the same way
across requests). One connection, a fresh model server per order, the same 48 decision probes.

    python benchmarks/prefix_order.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from common import result
from engine_overhead import campaign_file, requests_of

from slant.run import execute
from slant.store import open_db
from slant.targets import LocalTarget


async def timed_run(requests, db_path: Path, order: str) -> float:
    async with LocalTarget() as target:
        stats = await execute(open_db(db_path), target, requests, scope=order, max_connections=1,
                              progress=False, order=order)  # fmt: skip
    assert stats.succeeded == len(requests), stats
    return stats.seconds


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        path = campaign_file(t, ages=[30, 60], name="prefix")
        every = requests_of(path, "http://unused/v1", "x")
        requests = dict(list(sorted(every.items(), key=lambda kr: kr[0]))[:48])  # a fixed subset
        seconds = {}
        for order in ("random", "prefix"):
            seconds[order] = asyncio.run(timed_run(requests, t / f"{order}.db", order))
            print(f"{order:7}: {len(requests)} calls in {seconds[order]:.1f} s "
                  f"({1000 * seconds[order] / len(requests):.0f} ms per call)")  # fmt: skip
    result("prefix_order", "speedup", seconds["random"] / seconds["prefix"], 1.0)


if __name__ == "__main__":
    main()
