"""What the benchmarks share: starting the instant server, timing, peak memory, the RESULT line."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def instant_server(latency: float = 0.0, serial: bool = False, extra: tuple[str, ...] = ()) -> Iterator[str]:
    """Start benchmarks/instant_server.py in its own process; yield its base URL."""
    port = free_port()
    cmd = [sys.executable, str(HERE / "instant_server.py"), "--port", str(port), "--latency", str(latency)]
    cmd += ["--serial"] if serial else []
    cmd += list(extra)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start = time.perf_counter()
    yield out
    out["seconds"] = time.perf_counter() - start


@contextmanager
def tree_memory_peak(pid: int, every: float = 0.02) -> Iterator[dict[str, float]]:
    """While the block runs, sample every ``every`` s the memory of process ``pid`` and its descendants:
    its RSS plus the private (unshared) memory of each descendant, i.e. what a forked child adds beyond
    the pages it shares with its parent; ``["mib"]`` is the peak (Linux; 0 without /proc). Not the
    summed PSS: that splits shared library pages with any other process mapping them (the benchmark's
    own, once it has imported numpy), so it would depend on who else runs."""
    out = {"mib": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            kib = _rollup(pid)["Rss"] + sum(
                m["Private_Clean"] + m["Private_Dirty"] for m in map(_rollup, _descendants(pid))
            )
            out["mib"] = max(out["mib"], kib / 1024)
            stop.wait(every)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in map(int, f.read().split()):
                    out += [child, *_descendants(child)]
    except OSError:  # gone meanwhile, or not Linux
        pass
    return out


def _rollup(pid: int) -> dict[str, int]:
    """The KiB fields of /proc/PID/smaps_rollup (zeros once the process is gone)."""
    fields = dict.fromkeys(("Rss", "Private_Clean", "Private_Dirty"), 0)
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in fields:
                    fields[name] = int(rest.split()[0])
    except OSError:
        pass
    return fields


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def store_rows(db: Any, responses: list[dict], attempts: list[dict]) -> None:
    """The bare clients' storage: one sqlite-utils transaction per batch of response and attempt rows."""
    with db.conn:
        db["responses"].insert_all(responses, pk="key", replace=True)
        db["attempts"].insert_all(attempts, pk=("key", "attempt"), replace=True)
    responses.clear()
    attempts.clear()


def result(name: str, metric: str, value: float, target: float, higher_is_better: bool = True) -> None:
    """The last line every benchmark prints."""
    ok = value >= target if higher_is_better else value <= target
    print(f"RESULT {name} {metric}={value:.3g} target={target:g} {'PASS' if ok else 'MISS'}")
