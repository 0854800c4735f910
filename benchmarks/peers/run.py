"""Peers on the job of issue 20: the bare client, `slant run`, promptfoo and inspect_ai, whole commands.

The job is benchmarks/scale.py's: 2,016 one-token decision requests (the chat messages slant sends:
system + user), 20 top logprobs, concurrency 16, against benchmarks/instant_server.py. Each tool runs as
a whole command in its own process, as a user runs it; wall time and peak RSS come from scale.measured.
Rounds are paired (every tool once per round, the order reversed every other round); per tool the
report gives the median wall time, the median of its wall / the bare client's wall in the same round,
and the median peak RSS.

- bare: scale.py --bare (AsyncOpenAI, 16 workers, rows stored with sqlite-utils).
- slant: `slant run` (send, score, statistics, report) with scale.slant_cmd.
- promptfoo: `promptfoo eval` of a config with the 2,016 chat prompts as tests, no assertions,
  max_tokens 1, temperature 0, logprobs + top_logprobs 20 passed through, -j 16, no cache; results go
  to its own database (PROMPTFOO_CONFIG_DIR in the tmp dir), counted after the timed command.
- inspect_ai: `inspect eval` of a task file (the 2,016 samples as system + user messages, target
  "yes", solver generate(), scorer match(): one string comparison per sample) with model
  openai-api/instant/instant at the instant server, --max-connections 16, --max-tokens 1,
  --temperature 0, --logprobs --top-logprobs 20, --display none, logs in the tmp dir.

Install the peers first (they are never project dependencies): `bash benchmarks/peers/install.sh`.

    python benchmarks/peers/run.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import scale  # noqa: E402
from common import instant_server, result  # noqa: E402

PROMPTFOO = HERE / "node_modules" / ".bin" / "promptfoo"
INSPECT = HERE / "inspect-venv" / "bin" / "inspect"
CONNECTIONS = 16
TOOLS = ("bare", "slant", "promptfoo", "inspect_ai")
CHAT = '[{"role": "system", "content": {{ system | dump }}}, {"role": "user", "content": {{ user | dump }}}]'
TASK = """from inspect_ai import Task, task
from inspect_ai.dataset import json_dataset
from inspect_ai.scorer import match
from inspect_ai.solver import generate


@task
def decisions():
    return Task(dataset=json_dataset({dataset!r}), solver=generate(), scorer=match())
"""


def env_cmd(cwd: Path, env: dict[str, str], cmd: list[str]) -> list[str]:
    """``cmd`` run in ``cwd`` with ``env`` added: `env` execs it, so the measured process is the tool."""
    return ["env", "-C", str(cwd), *(f"{k}={v}" for k, v in env.items()), *cmd]


def promptfoo_config(tmp: Path, url: str, requests: list[dict]) -> Path:
    tests = [{"vars": {"system": r["messages"][0]["content"], "user": r["messages"][1]["content"]}}
             for r in requests]  # fmt: skip
    top = requests[0]["top_logprobs"]
    provider = {"apiBaseUrl": url, "apiKey": "none", "max_tokens": 1, "temperature": 0,
                "passthrough": {"logprobs": True, "top_logprobs": top}}  # fmt: skip
    config = {
        "description": "slant peer benchmark",
        "prompts": [CHAT],
        "providers": [{"id": "openai:chat:instant", "config": provider}],
        "tests": tests,
        "evaluateOptions": {"maxConcurrency": CONNECTIONS, "cache": False, "showProgressBar": False},
    }
    path = tmp / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def promptfoo_cmd(config: Path, out: Path) -> list[str]:
    env = {"PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1", "OPENAI_API_KEY": "none",
           "PROMPTFOO_CONFIG_DIR": str(out / "promptfoo-home")}  # fmt: skip
    cmd = [str(PROMPTFOO), "eval", "-c", str(config), "--no-cache", "-j", str(CONNECTIONS),
           "--no-progress-bar"]  # fmt: skip
    return env_cmd(out, env, cmd)


def promptfoo_check(out: Path) -> str:
    """How many results promptfoo stored in its database, and how many of them failed."""
    with sqlite3.connect(out / "promptfoo-home" / "promptfoo.db") as db:
        n, failed = db.execute("SELECT count(*), sum(success = 0) FROM eval_results").fetchone()
    return f"{n} results, {failed} failed"


def inspect_task(tmp: Path, requests: list[dict]) -> Path:
    dataset = tmp / "decisions.jsonl"
    with dataset.open("w") as f:
        for r in requests:
            f.write(json.dumps({"id": r["key"], "input": r["messages"], "target": "yes"}) + "\n")
    path = tmp / "decisions_task.py"
    path.write_text(TASK.format(dataset=str(dataset)))
    return path


def inspect_cmd(task_file: Path, url: str, top: int, out: Path) -> list[str]:
    env = {"INSTANT_API_KEY": "none", "INSTANT_BASE_URL": url, "XDG_DATA_HOME": str(out / "data"),
           "XDG_CACHE_HOME": str(out / "cache")}  # fmt: skip
    cmd = [str(INSPECT), "eval", task_file.name, "--model", "openai-api/instant/instant",
           "--max-connections", str(CONNECTIONS), "--max-tokens", "1", "--temperature", "0",
           "--logprobs", "--top-logprobs", str(top), "--display", "none",
           "--log-dir", str(out / "inspect-logs")]  # fmt: skip
    return env_cmd(task_file.parent, env, cmd)  # inspect takes a task file relative to its directory


def inspect_check(out: Path) -> str:
    """The status and sample count of the log inspect wrote (read with inspect_ai itself)."""
    code = (
        "import sys; from inspect_ai.log import list_eval_logs, read_eval_log\n"
        "log = read_eval_log(list_eval_logs(sys.argv[1])[0], header_only=True)\n"
        "print(f'{log.status}, {log.results.completed_samples} samples, '\n"
        "      f'accuracy {log.results.scores[0].metrics[\"accuracy\"].value:.3f}')"
    )
    cmd = [str(INSPECT.parent / "python"), "-c", code, str(out / "inspect-logs")]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done.stdout.strip() or done.stderr.strip()[-300:]


def versions() -> dict[str, str]:
    def of(python: Path | str, package: str) -> str:
        code = f"import importlib.metadata as m; print(m.version({package!r}))"
        return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()

    promptfoo = subprocess.run([str(PROMPTFOO), "--version"], capture_output=True, text=True).stdout
    return {
        "bare": f"openai {of(sys.executable, 'openai')}, sqlite-utils {of(sys.executable, 'sqlite-utils')}",
        "slant": of(sys.executable, "slant"),
        "promptfoo": promptfoo.strip().splitlines()[-1] if promptfoo.strip() else "?",
        "inspect_ai": of(INSPECT.parent / "python", "inspect_ai"),
    }


def rounds(tmp: Path, url: str, n_rounds: int) -> dict[str, list[tuple[float, float]]]:
    """Every tool once per round (order reversed in odd rounds): wall seconds and peak MiB per tool."""
    reqs_file = tmp / "requests.jsonl"
    scale.bare_requests(scale.campaign(tmp, "job0", 2016), url, reqs_file)
    requests = [json.loads(line) for line in reqs_file.read_text().splitlines()]
    config, task_file = promptfoo_config(tmp, url, requests), inspect_task(tmp, requests)
    top = requests[0]["top_logprobs"]
    runs: dict[str, list[tuple[float, float]]] = {t: [] for t in TOOLS}
    for i in range(n_rounds):
        out = tmp / f"round{i}"
        out.mkdir()
        cmds: dict[str, list[str]] = {
            "bare": [sys.executable, scale.__file__, "--bare", str(reqs_file), url, str(out / "bare.db")],
            "slant": scale.slant_cmd(scale.campaign(tmp, f"job{i}", 2016), url),
            "promptfoo": promptfoo_cmd(config, out),
            "inspect_ai": inspect_cmd(task_file, url, top, out),
        }
        checks: dict[str, Callable[[Path], str]] = {"promptfoo": promptfoo_check, "inspect_ai": inspect_check}
        for tool in TOOLS if i % 2 == 0 else TOOLS[::-1]:
            wall, mib = scale.measured(cmds[tool])
            runs[tool].append((wall, mib))
            note = f" ({checks[tool](out)})" if tool in checks else ""
            print(f"round {i}: {tool} {wall:.2f} s, {mib:.0f} MiB{note}", flush=True)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    for tool in (PROMPTFOO, INSPECT):
        if not tool.exists():
            raise SystemExit(f"{tool} is missing: run `bash benchmarks/peers/install.sh` first")
    with tempfile.TemporaryDirectory() as tmp, instant_server() as url:
        runs = rounds(Path(tmp), url, a.rounds)
    bare = [w for w, _ in runs["bare"]]
    version = versions()
    print("\n| client | version | wall s (median) | wall / bare (paired median) | peak MiB (median) |")
    print("|---|---|---|---|---|")
    for tool in TOOLS:
        walls, mibs = [w for w, _ in runs[tool]], [m for _, m in runs[tool]]
        ratio = statistics.median(w / b for w, b in zip(walls, bare, strict=True))
        print(f"| {tool} | {version[tool]} | {statistics.median(walls):.2f} | {ratio:.2f} "
              f"| {statistics.median(mibs):.0f} |")  # fmt: skip
    slant = [w for w, _ in runs["slant"]]
    for peer in ("promptfoo", "inspect_ai"):
        ratio = statistics.median(w / s for w, s in zip((w for w, _ in runs[peer]), slant, strict=True))
        result("peers", f"{peer}_vs_slant_wall", ratio, 1.0)


if __name__ == "__main__":
    main()
