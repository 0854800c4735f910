"""llama.cpp builds of the embedded model: latency per call, and whether replies depend on the cache.

The same 48 decision probes (one token, logprobs) go to one model server per build, one connection, in
prefix order and again in random order; builds alternate over rounds on the same machine. Reported per
build: median ms per call (prefix order); the cold latency of a probe after an unrelated prompt; and the
largest difference in any top logprob (a) between the two orders and (b) between a short prompt sent
after an unrelated one and the same prompt sent again after a five-token reply to it (llama.cpp then
re-evaluates only its last prompt token: the case where a prompt's last logits come from a batch of
one). 0 in both: a reply does not depend on which prompt came before.

    python benchmarks/local_build.py [--rounds 3] [--build native=/path/to/unpacked/wheel ...]

``--build LABEL=DIR`` names a folder holding another ``llama_cpp`` package (an unpacked wheel built with
other CMAKE_ARGS); it goes first on the server's PYTHONPATH. ``installed`` is the project's own build.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from common import result
from engine_overhead import campaign_file, requests_of

from slant.run import execute
from slant.store import open_db
from slant.targets import LocalTarget, Request
from slant.targets.local import LocalServer

UNRELATED = Request(
    (("system", "You are a poet."), ("user", "Write one line about the sea.")),
    prefill="The sea",
    top_logprobs=5,
)
COLOUR = Request(
    (("system", "You are terse."), ("user", "Name a colour.")), prefill="The colour is", top_logprobs=5
)


class Server(LocalServer):
    """The embedded model's server running another build (PYTHONPATH)."""

    def __init__(self, libdir: str | None) -> None:
        super().__init__()
        self.libdir = libdir

    def command(self) -> list[str]:
        cmd = super().command()
        return ["env", f"PYTHONPATH={self.libdir}", *cmd] if self.libdir else cmd


def _max_diff(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[t] - b[t]) for t in a.keys() & b.keys())


async def measure(libdir: str | None, requests: dict[str, Request], tmp: Path, tag: str):
    async with LocalTarget(server=partial(Server, libdir)) as target:
        first = next(iter(requests.values()))
        await target.complete(UNRELATED)
        start = time.perf_counter()
        await target.complete(first)
        cold_seconds = time.perf_counter() - start
        await target.complete(UNRELATED)
        ref = await target.complete(COLOUR)
        await target.complete(replace(COLOUR, max_tokens=5, temperature=0.9, seed=7))
        again = await target.complete(COLOUR)
        cached = _max_diff(ref.top_logprobs[0], again.top_logprobs[0])
        logprobs, seconds = {}, {}
        for order in ("prefix", "random"):
            db = open_db(tmp / f"{tag}-{order}.db")
            stats = await execute(db, target, requests, scope=order, max_connections=1, progress=False,
                                  order=order)  # fmt: skip
            assert stats.succeeded == len(requests), stats
            seconds[order] = stats.seconds
            logprobs[order] = {r["key"]: json.loads(r["top_logprobs"])[0]
                               for r in db.query("select key, top_logprobs from responses")}  # fmt: skip
    orders = max(_max_diff(a, logprobs["random"][k]) for k, a in logprobs["prefix"].items())
    return seconds["prefix"] / len(requests), cold_seconds, orders, cached


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--build", action="append", default=[], help="LABEL=DIR with another llama_cpp package")
    args = ap.parse_args()
    builds = {"installed": None} | dict(b.split("=", 1) for b in args.build)
    per_call: dict[str, list[float]] = {b: [] for b in builds}
    cold: dict[str, list[float]] = {b: [] for b in builds}
    orders = dict.fromkeys(builds, 0.0)
    cached = dict.fromkeys(builds, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        every = requests_of(campaign_file(t, ages=[30, 60], name="builds"), "http://unused/v1", "x")
        requests = dict(sorted(every.items())[:48])
        for r in range(args.rounds):
            for label, libdir in builds.items():
                call, first, d_orders, d_cached = asyncio.run(measure(libdir, requests, t, f"{label}-{r}"))
                per_call[label].append(call)
                cold[label].append(first)
                orders[label] = max(orders[label], d_orders)
                cached[label] = max(cached[label], d_cached)
    print(f"{'build':12} {'ms/call':>8} {'cold ms':>8} {'|Δ| orders':>11} {'|Δ| cached':>11}")
    for b in builds:
        call, first = 1000 * statistics.median(per_call[b]), 1000 * statistics.median(cold[b])
        print(f"{b:12} {call:>8.0f} {first:>8.0f} {orders[b]:>11.2g} {cached[b]:>11.2g}")
    ours = statistics.median(per_call["installed"])
    for b in builds:
        if b != "installed":
            print(f"installed / {b}: {ours / statistics.median(per_call[b]):.2f}× the time per call")
    result("local_build", "cache_dependence", orders["installed"] + cached["installed"], 0.0,
           higher_is_better=False)  # fmt: skip


if __name__ == "__main__":
    main()
