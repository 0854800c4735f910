"""Peers on the same job: the 2,016 decision prompts of engine_overhead.py through promptfoo and through
slant, against the same instant server, at the same concurrency.

Install the peers first (they are never project dependencies): `bash benchmarks/peers/install.sh`.
promptfoo gets the same chat messages (system + user) with max_tokens 1 and temperature 0; slant sends
them through the chat endpoint with 20 top logprobs (its decision family's logprob path without a
prefill) and scores them. Wall time is the whole command in both cases, as a user would see it.

    python benchmarks/peers/run.py [--connections 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import instant_server, result  # noqa: E402
from engine_overhead import campaign_file, requests_of  # noqa: E402

PROMPTFOO = HERE / "node_modules" / ".bin" / "promptfoo"
CHAT = '[{"role": "system", "content": {{ system | dump }}}, {"role": "user", "content": {{ user | dump }}}]'


def promptfoo_config(tmp: Path, url: str, requests: dict, connections: int) -> Path:
    tests = [{"vars": {"system": r.messages[0][1], "user": r.messages[1][1]}} for r in requests.values()]
    config = {
        "description": "slant peer benchmark",
        "prompts": [CHAT],
        "providers": [
            {
                "id": "openai:chat:instant",
                "config": {"apiBaseUrl": url, "apiKey": "none", "max_tokens": 1, "temperature": 0},
            }
        ],
        "tests": tests,
        "evaluateOptions": {"maxConcurrency": connections, "cache": False, "showProgressBar": False},
    }
    path = tmp / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_promptfoo(config: Path, tmp: Path, connections: int) -> float:
    env = {
        **os.environ,
        "PROMPTFOO_DISABLE_TELEMETRY": "1",
        "PROMPTFOO_DISABLE_UPDATE": "1",
        "PROMPTFOO_CONFIG_DIR": str(tmp / "promptfoo-home"),
        "OPENAI_API_KEY": "none",
    }
    cmd = [str(PROMPTFOO), "eval", "-c", str(config), "--no-cache", "-j", str(connections),
           "-o", str(tmp / "promptfoo.json"), "--no-progress-bar"]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 100):  # 100: some assertions failed (there are none here)
        raise SystemExit(f"promptfoo failed ({done.returncode}): {done.stderr[-1500:]}")
    results = json.loads((tmp / "promptfoo.json").read_text())["results"]["results"]
    errors = sum(1 for r in results if r.get("error"))
    print(f"promptfoo: {len(results)} results ({errors} errors) in {seconds:.1f} s")
    return seconds


def run_slant(campaign: Path, url: str, connections: int) -> float:
    cmd = [sys.executable, "-m", "slant", "run", str(campaign), "--base-url", url, "--no-progress",
           "--prefill", "none", "--max-connections", str(connections)]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-1500:]
    print(f"slant run: 2016 calls, scored, statistics, report in {seconds:.1f} s")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=8)
    a = ap.parse_args()
    if not PROMPTFOO.exists():
        raise SystemExit("promptfoo is not installed: run `bash benchmarks/peers/install.sh` first")
    with tempfile.TemporaryDirectory() as tmp, instant_server() as url:
        t = Path(tmp)
        campaign = campaign_file(t, "peers")
        requests = requests_of(campaign, url, "peers")
        slant_s = run_slant(campaign, url, a.connections)
        promptfoo_s = run_promptfoo(promptfoo_config(t, url, requests, a.connections), t, a.connections)
    n = len(requests)
    print(f"requests/s: slant {n / slant_s:.0f}, promptfoo {n / promptfoo_s:.0f}")
    result("peers", "slant_vs_promptfoo", promptfoo_s / slant_s, 5.0)


if __name__ == "__main__":
    main()
