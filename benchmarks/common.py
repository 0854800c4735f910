"""What the benchmarks share: starting the instant server, timing, peak memory, the RESULT line."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
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
