"""The embedded model over real HTTP: logprob scoring, sampled scoring, and the server's lifecycle."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from conftest import write_campaign

from slant import audit, open_db
from slant.targets import LocalTarget, Reply, Request
from slant.targets.base import loglikelihood

pytestmark = pytest.mark.model


def test_local_audit_scores_with_logprobs_and_samples(tmp_path):
    sampled = {
        "name": "sampled",
        "scoring": {"sample": {"n": 2, "temperature": 0.8, "max_tokens": 4}},
        "demographics": {"age": [40], "gender": ["male", "female"], "race": ["Asian"]},
    }
    campaign = write_campaign(
        tmp_path,
        {"demographics": {"age": [30, 70], "gender": ["female"], "race": ["white"]}},
        target="local",
        max_connections=2,
    )
    spec = yaml.safe_load(campaign.read_text())
    spec["probes"].append({**spec["probes"][0], **sampled})
    campaign.write_text(yaml.safe_dump(spec))
    result = audit(campaign, limit=2, progress=False)
    assert result.status == "complete"
    out = result.outcomes()
    logp = out[out["probe_set"] == "decisions"]
    assert len(logp) == 2 and (logp["mass"] > 0.5).all() and logp["p_yes"].between(0, 1).all()
    samples = out[out["probe_set"] == "sampled"]
    assert len(samples) == 4 and set(samples["sample"]) == {0, 1}
    assert samples["parse_status"].isin(["ok", "unparsed"]).all()
    db = open_db(result.db_path)
    target_id = next(iter(db.query("select target_id from runs")))["target_id"]
    target = db.table("targets").get(target_id)
    assert "SmolLM2-135M-Instruct" in target["server"] and target["base_url"] is None
    assert (
        db.table("responses").count == 6 == len(set(r["key"] for r in db.query("select key from responses")))
    )
    # P(yes) is exact: the echoed log-likelihood of each continuation, which for a one-token answer is
    # the first token's logprob (llama-cpp-python aligns its echoed logprobs with the prompt's tokens)
    assert logp["detail"].map(lambda d: json.loads(d)["p_yes_source"]).eq("exact").all()
    for r in db.query("select * from responses where continuation_logprobs is not null"):
        scored, top = json.loads(r["continuation_logprobs"]), json.loads(r["top_logprobs"])[0]
        assert set(scored) == {"yes", "Yes", "no", "No"}
        assert all(scored[c] == pytest.approx(top[c], abs=1e-5) for c in scored if c in top)


def test_equal_requests_give_equal_replies_whatever_was_cached_and_the_server_stops():
    """One build: the same seeded sample and the same logprobs cold, fully cached and after another prompt.

    (With llama.cpp's repacked kernels, the default build's, a prompt whose last token is re-evaluated
    alone got other logits than the same prompt evaluated in one batch: issue 13.)
    """
    sampled = Request(
        (("system", "You are terse."), ("user", "Name a colour.")),
        max_tokens=5,
        temperature=0.9,
        seed=7,
        prefill="The colour is",
    )
    scored = Request(
        (("system", "You are terse."), ("user", "Is the sky blue?")), prefill="Answer:", top_logprobs=5
    )
    other = Request((("system", "You are a poet."), ("user", "Write one line about the sea.")), max_tokens=3)

    async def go() -> tuple[list[str], list[dict[str, float]], object]:
        texts, logprobs = [], []
        async with LocalTarget() as target:
            proc = target._server.proc
            for req in (sampled, sampled, other, sampled):  # cold, cached, after another prompt
                reply = await target.complete(req)
                if req is sampled:
                    texts.append(reply.text)
            for req in (scored, replace(scored, max_tokens=2), scored, other, scored):
                reply = await target.complete(req)
                if req is scored:
                    logprobs.append(reply.top_logprobs[0])
        return texts, logprobs, proc

    texts, logprobs, proc = asyncio.run(go())
    assert texts[0].strip() and texts == [texts[0]] * 3
    assert logprobs == [logprobs[0]] * 3  # bit-identical, not just close
    assert proc.poll() is not None  # the child process is gone


def test_model_server_dies_with_a_killed_parent(tmp_path):
    """SIGKILL leaves no cleanup to run; the child still goes (PR_SET_PDEATHSIG): no orphan holds a core."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, signal\n"
        "from slant.targets.local import LocalServer\n"
        "print(LocalServer().start().proc.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    child = int(done.stdout.strip())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists(), "the model server outlived its parent"


def test_whole_sequence_loglikelihoods_obey_the_chain_rule():
    """log P(a b) = log P(a) + log P(b | a) on the embedded model: the echoed logprobs are aligned with
    their tokens (llama-cpp-python misaligns them unless the prompt starts with the start token), and the
    first token of an empty context is read after the start token."""

    async def go() -> tuple[Reply, Reply, Reply]:
        async with LocalTarget() as target:
            both = ("The doctor said she", "The doctor said he")
            whole = await target.complete(loglikelihood(both, text=""))
            head = await target.complete(loglikelihood(("The doctor said",), text=""))
            tail = await target.complete(loglikelihood((" she", " he"), text="The doctor said"))
        return whole, head, tail

    whole, head, tail = asyncio.run(go())
    for word in ("she", "he"):
        together = whole.continuation_logprobs[f"The doctor said {word}"]
        assert together < 0 and whole.continuation_tokens[f"The doctor said {word}"] == 4
        parts = head.continuation_logprobs["The doctor said"] + tail.continuation_logprobs[f" {word}"]
        assert together == pytest.approx(parts, abs=1e-4)
