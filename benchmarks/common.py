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
def tree_pss_peak(pid: int, every: float = 0.02) -> Iterator[dict[str, float]]:
    """While the block runs, sample the summed PSS (proportional set size: shared pages split between
    the processes sharing them) of process ``pid`` and its descendants; ``["mib"]`` is the peak (Linux;
    0 where /proc has no smaps_rollup)."""
    out = {"mib": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            out["mib"] = max(out["mib"], sum(_pss_kib(p) for p in [pid, *_descendants(pid)]) / 1024)
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


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
    except OSError:
        return 0


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
