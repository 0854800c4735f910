"""Scale and whole-command overhead: memory and time of `slant run` as a user runs it.

1. Dry runs of 10k / 100k / 1M decision probes (time should grow linearly, peak memory stay flat) and
   a 100k-probe run against the instant server: peak memory of the `slant` command (the larger of its
   largest process's RSS and its RSS plus its children's private memory), target < 250 MiB.
2. The job of issue 20: 2,016 one-token decision requests with logprobs (chat endpoint), concurrency 16,
   `slant run` (send, score, statistics, report) against a bare AsyncOpenAI loop storing rows with
   sqlite-utils (this file run with ``--bare``), both as whole commands in their own process, in paired
   rounds (who goes first alternating); medians of wall time and peak memory; targets ≤ 1.15× and ≤ 1.5×.
   slant sends through httpx2 without the openai SDK, so a third client, the same loop on bare httpx2
   (``--bare-httpx``), shows what is left of slant's own overhead once the SDK's cost is out of both.

    python benchmarks/scale.py [--rounds 5] [--sizes 10000,100000,1000000] [--run-size 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import ROOT, instant_server, result, store_rows, tree_memory_peak

AGES = [18, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85]
JOB = {"age": AGES, "gender": ["male", "female"], "race": ["white", "Black", "Asian", "Hispanic"]}
# the sizes: every age, three genders, four races and six conditions, 5,976 probes per scenario (a large
# campaign is many people per scenario: its scenario packs stay small files)
DENSE = {"age": list(range(18, 101)), "gender": ["male", "female", "non-binary"], "race": JOB["race"]}
CONDITIONS = ["none", "unbiased", "illegal-to-discriminate", "dont-discriminate-1", "dont-discriminate-2",
              "dont-discriminate-3"]  # fmt: skip


def scenario_files(tmp: Path, n_scenarios: int) -> str:
    """``n_scenarios`` decision scenarios (the project's 18, repeated under new ids) in one pack file."""
    own = [s for f in sorted((ROOT / "scenarios" / "decisions").glob("*.yaml"))
           for s in yaml.safe_load(f.read_text())["scenarios"]]  # fmt: skip
    scenarios = [
        {**s, "id": f"{s['id']}-{i}", "text": s["text"].replace("{person}", f"{{person}} (case {i})", 1)}
        for i, s in ((i, own[i % len(own)]) for i in range(n_scenarios))
    ]
    folder = tmp / f"scenarios{n_scenarios}"
    folder.mkdir(exist_ok=True)
    pack = {"pack": "scale", "description": "copies", "source": "benchmarks/scale.py", "scenarios": scenarios}
    (folder / "scale.yaml").write_text(yaml.safe_dump(pack))
    return str(folder / "*.yaml")


def campaign(tmp: Path, name: str, n_probes: int) -> Path:
    """A decision campaign of about ``n_probes`` probes (explicit cue): the job's 2,016 (18 scenarios ×
    112 people), or else 5,976 per scenario (83 ages × 3 genders × 4 races × 6 conditions)."""
    dense = n_probes != 2016
    n_scenarios = -(-n_probes // (83 * 3 * 4 * 6)) if dense else 18
    scenarios = (
        str(ROOT / "scenarios" / "decisions" / "*.yaml")
        if n_scenarios == 18
        else scenario_files(tmp, n_scenarios)
    )
    spec = {
        "name": name,
        "target": "openai-compat/instant",
        "db": str(tmp / f"{name}.db"),
        "probes": [
            {
                "family": "decision",
                "name": "decisions",
                "scenarios": scenarios,
                "demographics": DENSE if dense else JOB,
                "cues": ["explicit"],
                "conditions": CONDITIONS if dense else ["none"],
            }
        ],
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def measured(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak memory (MiB) of one command in its own process: the larger of the peak RSS
    of its largest process (``wait4``) and the sampled peak of its RSS plus its children's private
    memory (:func:`common.tree_memory_peak`), so what a forked child adds counts too."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with tree_memory_peak(proc.pid) as tree:
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    return seconds, max(usage.ru_maxrss / 1024, tree["mib"])


def slant_cmd(path: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "slant", "run", str(path), "--base-url", url, "--no-progress",
            "--prefill", "none", "--max-connections", "16", *extra]  # fmt: skip


def bare_requests(path: Path, url: str, out: Path) -> int:
    """The chat requests slant sends for the campaign, as JSON lines for the bare client."""
    from slant.api import plan
    from slant.spec import load_campaign
    from slant.targets import resolve_target

    c = load_campaign(path)
    target = resolve_target(c.target, url, "none")
    with out.open("w") as f:
        n = 0
        for ps in plan(c, target):
            for reqs in ps.requests.values():
                for key, r in reqs:
                    messages = [{"role": role, "content": text} for role, text in r.messages]
                    f.write(
                        json.dumps({"key": key, "messages": messages, "top_logprobs": r.top_logprobs}) + "\n"
                    )
                    n += 1
    return n


async def bare(requests_file: str, url: str, db_path: str, connections: int, sdk: bool = True) -> None:
    """The bare client: AsyncOpenAI (or, ``sdk=False``, bare httpx2 reading the JSON itself),
    `connections` workers, one response and one attempt row each."""
    import sqlite_utils

    if sdk:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(base_url=url, api_key="none", max_retries=0)
    else:
        import httpx2

        http = httpx2.AsyncClient(base_url=url, headers={"Authorization": "Bearer none"}, timeout=60)
    requests = [json.loads(line) for line in Path(requests_file).read_text().splitlines()]
    db = sqlite_utils.Database(db_path)
    db.enable_wal()
    responses: list[dict] = []
    attempts: list[dict] = []

    def flush() -> None:
        store_rows(db, responses, attempts)

    todo = iter(requests)

    async def worker() -> None:
        for r in todo:
            t0 = time.perf_counter()
            body = {"model": "instant", "messages": r["messages"], "max_tokens": 1, "temperature": 0.0,
                    "logprobs": True, "top_logprobs": r["top_logprobs"]}  # fmt: skip
            if sdk:
                out = await client.chat.completions.create(**body)
                choice = out.choices[0]
                top = [{t.token: t.logprob for t in pos.top_logprobs} for pos in choice.logprobs.content]
                text, usage = choice.message.content, out.usage.model_dump()
            else:
                data = json.loads((await http.post("/chat/completions", json=body)).content)
                choice = data["choices"][0]
                positions = choice["logprobs"]["content"]
                top = [{t["token"]: t["logprob"] for t in pos["top_logprobs"]} for pos in positions]
                text, usage = choice["message"]["content"], data["usage"]
            ms = (time.perf_counter() - t0) * 1000
            responses.append({"key": r["key"], "request": json.dumps(r), "text": text, "latency_ms": ms,
                              "top_logprobs": json.dumps(top), "usage": json.dumps(usage)})  # fmt: skip
            attempts.append({"key": r["key"], "attempt": 0, "ok": 1, "latency_ms": ms})
            if len(responses) >= 200:
                flush()

    await asyncio.gather(*(worker() for _ in range(connections)))
    flush()
    await (client.close() if sdk else http.aclose())


def overhead(tmp: Path, url: str, rounds: int) -> dict[str, float]:
    """Paired rounds of the 2,016-request job (the three clients in a rotating order): medians of slant's
    wall and memory ratios to the bare AsyncOpenAI client, its wall ratio to bare httpx2, its own wall
    and peak memory."""
    got: dict[str, list[float]] = {k: [] for k in ("wall", "memory", "wall_httpx", "slant_s", "slant_mib")}
    for i in range(rounds):
        path = campaign(tmp, f"job{i}", 2016)
        reqs = tmp / f"job{i}.jsonl"
        bare_requests(path, url, reqs)
        cmds = {
            "bare": [sys.executable, __file__, "--bare", str(reqs), url, str(tmp / f"bare{i}.db")],
            "httpx": [sys.executable, __file__, "--bare-httpx", str(reqs), url, str(tmp / f"httpx{i}.db")],
            "slant": slant_cmd(path, url),
        }
        order = list(cmds)[i % 3 :] + list(cmds)[: i % 3]
        runs = {who: measured(cmds[who]) for who in order}
        (bw, bm), (hw, _), (sw, sm) = runs["bare"], runs["httpx"], runs["slant"]
        print(f"round {i}: bare {bw:.2f} s {bm:.0f} MiB, bare httpx2 {hw:.2f} s, slant run {sw:.2f} s "
              f"{sm:.0f} MiB: {sw / bw:.2f}× the bare client, {sw / hw:.2f}× bare httpx2")  # fmt: skip
        for k, v in zip(got, (sw / bw, sm / bm, sw / hw, sw, sm), strict=True):
            got[k].append(v)
    return {k: statistics.median(v) for k, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--run-size", type=int, default=100_000)
    ap.add_argument("--bare", nargs=3, metavar=("REQUESTS", "URL", "DB"), help=argparse.SUPPRESS)
    ap.add_argument("--bare-httpx", nargs=3, metavar=("REQUESTS", "URL", "DB"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.bare or a.bare_httpx:
        asyncio.run(bare(*(a.bare or a.bare_httpx), connections=16, sdk=bool(a.bare)))
        return
    with tempfile.TemporaryDirectory() as tmp, instant_server() as url:
        t = Path(tmp)
        if a.rounds:
            o = overhead(t, url, a.rounds)
            print(f"2,016-request job: slant run {o['slant_s']:.2f} s, {o['slant_mib']:.0f} MiB (medians); "
                  f"{o['wall_httpx']:.2f}× the bare httpx2 client")  # fmt: skip
        dry = {}
        for n in [int(s) for s in a.sizes.split(",") if s]:
            dry[n] = measured(slant_cmd(campaign(t, f"dry{n}", n), url, "--dry-run"))
            print(f"dry run, {n:,} probes: {dry[n][0]:.1f} s, {dry[n][1]:.0f} MiB")
        run_s, run_mem = (0.0, 0.0)
        if a.run_size:
            run_s, run_mem = measured(slant_cmd(campaign(t, "big", a.run_size), url))
            print(f"run, {a.run_size:,} probes: {run_s:.0f} s, {run_mem:.0f} MiB")
    sizes = sorted(dry)
    for n in sizes:  # linear: each size within 1.2× of the smallest's time scaled by size
        result("scale", f"dry_run_{n}_seconds", dry[n][0], dry[sizes[0]][0] * n / sizes[0] * 1.2, False)
    if dry:
        result("scale", "dry_run_peak_mib", max(m for _, m in dry.values()), 250, higher_is_better=False)
    if a.run_size:
        result("scale", "run_peak_mib", run_mem, 250, higher_is_better=False)
    if a.rounds:
        result("scale", "memory_vs_bare", o["memory"], 1.5, higher_is_better=False)
        result("scale", "wall_vs_bare", o["wall"], 1.15, higher_is_better=False)


if __name__ == "__main__":
    main()
