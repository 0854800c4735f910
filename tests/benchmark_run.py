"""A standard-benchmark probe set run as a campaign on the fake server, with the per-token
log-likelihoods a reference run was given (each benchmark's tests/data/<name>/expected.json)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from openai_server import FakeOpenAIServer

from slant import audit, open_db


def planted_by(table: dict[str, float]) -> Callable[[str, str], float]:
    """A token's log-probability: its word's in ``table``, else -(0.5 + 0.25 · the word's length)."""

    def logprob(before: str, token: str) -> float:
        word = token.strip().lower()
        return float(table.get(word, -(0.5 + 0.25 * len(word))))

    return logprob


def campaign(tmp_path: Path, probe_set: dict[str, Any]) -> Path:
    """A campaign of this one probe set on the fake target, written in ``tmp_path``."""
    spec = {
        "name": "benchmark",
        "target": "openai-compat/fake",
        "db": str(tmp_path / "audit.db"),
        "max_retries": 0,
        "probes": [probe_set],
    }
    path = tmp_path / "campaign.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run(
    tmp_path: Path, server: FakeOpenAIServer, planted: dict[str, float], probe_set: dict[str, Any]
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[dict[str, Any]]]:
    """The run's disparity rows by (metric, grp) with their ``extra`` merged in, and its outcomes (with
    the probe's scenario_id); the server scores every token with ``planted`` after a start token, as
    vLLM and llama.cpp servers add one."""
    server.token_logprob, server.start_token = planted_by(planted), "<s>"
    result = audit(campaign(tmp_path, probe_set), base_url=server.base_url, progress=False)
    db = open_db(result.db_path)
    rows = {
        (r["metric"], r["grp"]): r | json.loads(r["extra"] or "{}")
        for r in db.query("select * from disparities")
    }
    query = "select o.*, p.scenario_id from outcomes o join probes p on p.id = o.probe_id"
    return rows, list(db.query(query))
