"""Tokens per estimate on the embedded model: P(yes) of a probe to within ±0.02 (95%), read from the
first token's logprobs (one call) or estimated by sampling answers and counting yeses.

Both paths run on the same 6 decision probes. The logprob path's cost is measured directly. For the
sampling path, the number of samples needed for a ±0.02 Wald interval at the probe's own P(yes) comes
from statsmodels (`samplesize_confint_proportion`); the tokens per sampled answer are measured on
`--samples` real draws per probe, and the sampled P(yes) is compared with the logprob one.

    python benchmarks/tokens_per_estimate.py [--samples 16]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

import yaml
from common import ROOT, result, timed
from statsmodels.stats.proportion import samplesize_confint_proportion

from slant import audit, open_db

HALF_WIDTH = 0.02


def campaign(tmp: Path, name: str, scoring: object) -> Path:
    spec = {
        "name": name,
        "target": "local",
        "db": str(tmp / "tokens.db"),
        "probes": [
            {
                "family": "decision",
                "name": name,
                "scenarios": str(ROOT / "scenarios" / "decisions" / "lending.yaml"),
                "demographics": {"age": [40], "gender": ["male", "female"], "race": ["white"]},
                "cues": ["explicit"],
                "scoring": scoring,
            }
        ],
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def usage(db, run_id: str) -> tuple[int, int]:
    """(calls, generated tokens) of a run's responses."""
    rows = list(
        db.query(
            "select r.usage from outcomes o join responses r on r.key = o.request_key where o.run_id = ?",
            [run_id],
        )
    )
    return len(rows), sum(json.loads(r["usage"] or "{}").get("completion_tokens", 0) for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16, help="real sampled answers per probe")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        with timed() as lp_time:
            lp = audit(campaign(t, "logprob", "logprobs"), progress=False)
        scoring = {"sample": {"n": a.samples, "temperature": 1.0, "max_tokens": 8}}
        with timed() as sm_time:
            sm = audit(campaign(t, "sampled", scoring), progress=False)
        db = open_db(t / "tokens.db")
        lp_calls, lp_tokens = usage(db, lp.run_id)
        sm_calls, sm_tokens = usage(db, sm.run_id)
        p_lp = {
            r["probe_id"]: r["p_yes"]
            for r in db.query("select probe_id, p_yes from outcomes where run_id = ?", [lp.run_id])
        }
        p_sm = {
            r["probe_id"]: r["p"]
            for r in db.query(
                "select probe_id, avg(p_yes) p from outcomes where run_id = ? and parse_status = 'ok' "
                "group by probe_id",
                [sm.run_id],
            )
        }
    tokens_per_draw = sm_tokens / sm_calls
    needed = {k: math.ceil(samplesize_confint_proportion(p, HALF_WIDTH)) for k, p in p_lp.items()}
    n_probes = len(p_lp)
    mean_needed = sum(needed.values()) / n_probes
    sampling_tokens = mean_needed * tokens_per_draw
    logprob_tokens = lp_tokens / n_probes
    print(f"{n_probes} probes; P(yes) by logprobs: {', '.join(f'{p:.3f}' for p in p_lp.values())}")
    print(
        f"sampled P(yes) from {a.samples} draws each: "
        + ", ".join("—" if k not in p_sm else f"{p_sm[k]:.2f}" for k in p_lp)
    )
    print(
        f"logprob path : 1 call, {logprob_tokens:.1f} generated tokens per estimate "
        f"({lp_time['seconds']:.0f} s)"
    )
    print(
        f"sampling path: {mean_needed:.0f} calls for ±{HALF_WIDTH} (statsmodels), {tokens_per_draw:.1f} "
        f"tokens per draw (measured on {sm_calls} draws, {sm_time['seconds']:.0f} s) → {sampling_tokens:.0f} "
        "generated tokens per estimate"
    )
    print(
        f"fewer tokens on the logprob path: {sampling_tokens / logprob_tokens:.0f}×, calls {mean_needed:.0f}×"
    )
    result("tokens_per_estimate", "ratio", sampling_tokens / logprob_tokens, 10)


if __name__ == "__main__":
    main()
