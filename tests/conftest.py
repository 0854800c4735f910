"""Shared fixtures and helpers: the scripted OpenAI-compatible server, small campaign and pack files,
replies as a target returns them, and the keys of outcome and disparity rows."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai_server import FakeOpenAIServer

from slant.probes import base
from slant.targets.base import Reply

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

OUTCOME_KEYS = set(base.OUTCOME_KEYS)  # the fields of an outcome a family's score() returns
SAMPLED = {"sample": {"n": 3, "temperature": 1.0, "max_tokens": 16}}  # a probe set's sampled scoring
PACK_HEAD = {"pack": "p", "description": "d", "source": "s"}


def ln(p: float) -> float:
    return math.log(p)


def reply(text: str = "", top: dict[str, float] | None = None) -> Reply:
    """A finished reply; ``top``: the first token's top logprobs (None: the reply has no logprobs)."""
    return Reply(
        text=text, finish_reason="stop", endpoint="completions", top_logprobs=None if top is None else [top]
    )


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def write_pack(path: Path, base: dict[str, Any] = PACK_HEAD, **fields: Any) -> Path:
    """A pack file: ``base`` with ``fields`` over it; a field set to None is left out."""
    return write_yaml(path, {k: v for k, v in {**base, **fields}.items() if v is not None})


def pick(rows: list[dict[str, Any]], metric: str, grp: str, **match: Any) -> dict[str, Any]:
    """The first disparity row of ``metric`` for group ``grp`` whose other fields equal ``match``."""
    return next(
        r
        for r in rows
        if r["metric"] == metric and r["grp"] == grp and all(r[k] == v for k, v in match.items())
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as s:
        yield s


# decision scoring with one call per request (the first token's top-k), for tests that count calls as
# requests; the default also scores the four answer continuations where the target can (4 more calls)
TOPK = "topk"


def write_campaign(tmp_path: Path, probe_overrides: dict[str, Any] | None = None, **top: Any) -> Path:
    """A small decision campaign (2 scenario packs, 2 ages × 2 genders × 2 races) in tmp_path."""
    probe_set = {
        "family": "decision",
        "name": "decisions",
        "scenarios": [
            str(SCENARIOS / "decisions" / "lending.yaml"),
            str(SCENARIOS / "decisions" / "housing.yaml"),
        ],
        "demographics": {"age": [30, 70], "gender": ["male", "female"], "race": ["white", "Black"]},
        "cues": ["explicit"],
        "scoring": "logprobs",
        **(probe_overrides or {}),
    }
    campaign = {
        "name": "test",
        "target": "openai-compat/fake",
        "db": str(tmp_path / "audit.db"),
        "max_retries": 3,
        "probes": [probe_set],
        **top,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(campaign, sort_keys=False))
    return path
