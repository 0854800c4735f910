"""Resume and memory: rerun a finished 10,000-probe campaign (nothing to send), and run a 107,568-probe
campaign against the instant server while measuring the peak memory of the `slant run` process.

    python benchmarks/resume_memory.py
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import instant_server, result
from engine_overhead import campaign_file

SLANT = [sys.executable, "-m", "slant"]


def ages_for(n_probes: int) -> list[int]:
    """Ages 18, 19, … enough that 18 scenarios × 2 genders × 4 races × ages ≥ n_probes (up to 11,952)."""
    return list(range(18, 18 + min(83, -(-n_probes // (18 * 8)))))


def big_campaign(tmp: Path) -> Path:
    """18 scenarios × 83 ages × 3 genders × 4 races × 6 conditions = 107,568 probes."""
    path = campaign_file(tmp, "big", list(range(18, 101)))
    spec = yaml.safe_load(path.read_text())
    spec["probes"][0]["demographics"]["gender"] = ["male", "female", "non-binary"]
    spec["probes"][0]["conditions"] = ["none", "unbiased", "illegal-to-discriminate", "dont-discriminate-1",
                                       "dont-discriminate-2", "dont-discriminate-3"]  # fmt: skip
    path.write_text(yaml.safe_dump(spec))
    return path


def slant_run(path: Path, url: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of the child, and the last line it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    cmd = [*SLANT, "run", str(path), "--base-url", url, "--no-progress", "--max-connections", "8"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, max(peak, before) / 1024, (done.stdout.strip().splitlines() or [""])[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", type=int, default=10_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, instant_server() as url:
        t = Path(tmp)
        small = campaign_file(t, "resume", ages_for(a.small))
        first, _, _ = slant_run(small, url)
        again, _, _ = slant_run(small, url)
        print(f"{a.small}-probe campaign: first run {first:.1f} s, rerun (0 calls) {again:.2f} s")
        seconds, peak, _ = slant_run(big_campaign(t), url)
        print(f"107,568-probe campaign: {seconds:.0f} s, peak RSS of slant run {peak:.0f} MB")
    result("resume_memory", "rerun_seconds", again, 3.0, higher_is_better=False)
    print(f"(peak RSS target < 250 MB: {'PASS' if peak < 250 else 'MISS'})")
    result("resume_memory", "peak_rss_mb", peak, 250, higher_is_better=False)


if __name__ == "__main__":
    main()
