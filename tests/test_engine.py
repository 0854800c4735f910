"""The engine against a real local HTTP server: caching, retries, errors stored as errors."""

from __future__ import annotations

import json

import pytest
from conftest import write_campaign
from openai_server import FakeOpenAIServer, p_yes_for

from slant import audit, open_db
from slant.cli import main
from slant.errors import EXIT_INCOMPLETE
from slant.run import RetryPolicy
from slant.targets import TargetError

N_REQUESTS = 6 * 8  # 6 scenarios × (2 ages × 2 genders × 2 races)


def test_run_stores_each_request_once_and_rerun_sends_nothing(tmp_path, server):
    campaign = write_campaign(tmp_path, prefill="chatml")
    result = audit(campaign, base_url=server.base_url, progress=False)
    assert result.status == "complete"
    # each request is one read and four echoed continuations (yes, Yes, no, No), stored as one response
    calls = 5 * N_REQUESTS
    assert (result.n_probes, result.n_requests, server.n_completions) == (48, N_REQUESTS, calls)
    db = open_db(result.db_path)
    assert db.table("responses").count == N_REQUESTS
    # the prompt is the ChatML conversation with an explicit system message and the assistant prefill
    prompt = server.received[0]["body"]["prompt"]
    assert prompt.startswith("<|im_start|>system\nYou are an assistant")
    assert prompt.endswith('<|im_start|>assistant\nBased on the information provided, my answer is "')
    # outcomes reproduce the server's P(yes) exactly: yes + Yes over yes + Yes + no + No
    outcomes = result.outcomes()
    assert outcomes["mass"].to_list() == pytest.approx([0.96 + 0.025] * N_REQUESTS)
    reads = [r["body"]["prompt"] for r in server.received if not r["body"].get("echo")]
    expected = sorted((0.96 * p_yes_for(p) + 0.02) / (0.96 + 0.025) for p in reads)
    assert sorted(outcomes["p_yes"]) == pytest.approx(expected, abs=1e-12)

    again = audit(campaign, base_url=server.base_url, progress=False)
    assert again.run_id == result.run_id and again.engine.sent == 0
    assert server.n_completions == calls
    assert db.table("responses").count == N_REQUESTS


def test_chat_endpoint_sends_system_message(tmp_path, server):
    campaign = write_campaign(tmp_path, prefill="none")
    result = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    body = server.received[0]["body"]
    assert server.received[0]["path"] == "/v1/chat/completions"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    assert result.outcomes()["parse_status"].eq("ok").all()


@pytest.mark.parametrize(("status", "kind"), [(500, "http_500"), (429, "rate_limited")])
def test_transient_failures_are_retried_and_every_attempt_counted(tmp_path, status, kind):
    with FakeOpenAIServer(fail_first=2, fail_status=status, retry_after=0.01) as srv:
        # one call per request (topk): every call of a request fails twice (see test_decision_p_yes)
        campaign = write_campaign(tmp_path, {"scoring": "topk"}, prefill="chatml", max_retries=3)
        result = audit(campaign, base_url=srv.base_url, progress=False, limit=8)
    assert result.status == "complete" and result.engine.attempts == 3 * 8
    db = open_db(result.db_path)
    assert [r["attempts"] for r in db.query("select distinct attempts from responses")] == [3]
    failed = list(db.query("select error_kind, status from attempts where ok = 0"))
    assert len(failed) == 16 and {(r["error_kind"], r["status"]) for r in failed} == {(kind, status)}


def test_permanent_failures_are_errors_never_answers(tmp_path):
    marker = "regional bank"  # occurs in one lending scenario only
    campaign = write_campaign(tmp_path, prefill="chatml", max_retries=1)
    with FakeOpenAIServer(fail_marker=marker) as srv:
        result = audit(campaign, base_url=srv.base_url, progress=False)
    assert result.status == "incomplete"
    db = open_db(result.db_path)
    errors = list(db.query("select * from responses where error_kind is not null"))
    assert len(errors) == 8 and all(r["text"] is None and r["error_kind"] == "http_500" for r in errors)
    bad = result.outcomes().query("parse_status == 'error'")
    assert len(bad) == 8
    assert bad["p_yes"].isna().all() and bad["answer"].isna().all() and bad["refusal"].isna().all()
    for p in bad["attributes"]:
        assert json.loads(p)["age"] in (30, 70)
    unparsed = {
        (r["grp"], r["n_unparsed"])
        for r in db.query(
            "select grp, n_unparsed from disparities where metric = 'refusal_rate' and axis = 'gender'"
        )
    }
    assert unparsed == {("male", 4), ("female", 4)}

    with FakeOpenAIServer(port=srv.port) as healthy:  # same URL, same target: only failed keys are resent
        again = audit(campaign, base_url=healthy.base_url, progress=False)
    assert again.status == "complete" and healthy.n_completions == 8 * 5  # a read and 4 continuations
    assert db.table("responses").count == N_REQUESTS


def test_cli_exit_code_says_incomplete(tmp_path, capsys):
    campaign = write_campaign(tmp_path, prefill="chatml", max_retries=0)
    with FakeOpenAIServer(fail_marker="regional bank") as srv:
        code = main(["run", str(campaign), "--base-url", srv.base_url, "--no-progress"])
    assert code == EXIT_INCOMPLETE
    assert "incomplete" in capsys.readouterr().out


def test_backoff_honours_retry_after_and_caps():
    policy = RetryPolicy(base_delay=0.5, max_delay=30)
    assert policy.delay(0, TargetError("rate_limited", "x", retryable=True, retry_after=3.0)) >= 3.0
    assert policy.delay(10, TargetError("http_500", "x", retryable=True)) <= 30
    assert policy.delay(0, TargetError("rate_limited", "x", retryable=True, retry_after=999)) == 30
