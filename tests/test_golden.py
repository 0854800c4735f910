"""Refactors keep every number: the disparity rows of three campaigns, against deterministic test servers,
equal the rows stored in tests/data/golden/ (written by an earlier version).

A change that is meant to alter numbers regenerates them on purpose, and the diff shows what moved:
``SLANT_REGEN_GOLDEN=1 pytest tests/test_golden.py``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from family_server import FamilyServer, coverage_campaign, full_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db

GOLDEN = Path(__file__).parent / "data" / "golden"
KEY = ("probe_set", "cue", "metric", "axis", "grp", "reference")


def quickstart(tmp: Path) -> Path:
    c = yaml.safe_load((ROOT / "scenarios" / "campaigns" / "quickstart.yaml").read_text())
    c |= {"target": "openai-compat/fake", "db": str(tmp / "audit.db"), "prefill": "chatml"}
    for ps in c["probes"]:
        ps["scenarios"] = str((ROOT / "scenarios" / "campaigns" / ps["scenarios"]).resolve())
    out = tmp / "campaign.yaml"
    out.write_text(yaml.safe_dump(c, sort_keys=False))
    return out


CASES = {
    "quickstart": (quickstart, FakeOpenAIServer, None),
    "full-limit-20": (full_campaign, FamilyServer, 20),
    "coverage-sampled": (lambda tmp: coverage_campaign(tmp, sampled=True), FamilyServer, 40),
}


def rows(db_path: Path, run_id: str) -> list[dict[str, Any]]:
    """The run's disparity rows without the run id (it names the server's port), in key order."""
    out = []
    for r in open_db(db_path).query("select * from disparities where run_id = ?", [run_id]):
        r.pop("run_id")
        r["extra"] = json.loads(r["extra"]) if r["extra"] else None
        out.append(r)
    return sorted(out, key=lambda r: tuple(str(r[k]) for k in KEY))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("case", CASES)
def test_disparities_are_unchanged(tmp_path, case):
    make, server_class, limit = CASES[case]
    with server_class() as server:
        result = audit(make(tmp_path), base_url=server.base_url, progress=False, limit=limit)
    got = rows(result.db_path, result.run_id)
    path = GOLDEN / f"{case}.json"
    if os.environ.get("SLANT_REGEN_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(path.read_text())
    assert [tuple(r[k] for k in KEY) for r in got] == [tuple(r[k] for k in KEY) for r in want]
    changed = [(g, w) for g, w in zip(got, want, strict=True) if not same(g, w)]
    assert changed == []
