"""Campaigns through a fault-injecting proxy: every fault is retried and recorded with its cause, the
outcomes equal a fault-free run's, and a call that failed is never stored as an answer."""

from __future__ import annotations

import socket
from collections import Counter

import pytest
from conftest import TOPK, write_campaign
from fault_proxy import FAULTS, FaultProxy
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.cli import main

# What the engine records for each fault the proxy serves (attempts.error_kind).
CAUSE = {
    "http_500": "http_500",
    "rate_limited": "rate_limited",
    "slow": "timeout",
    "reset": "connection",
    "truncated": "connection",
    "invalid_json": "bad_response",
    "html": "bad_response",
    "wrong_shape": "bad_response",
}
OUTCOME_COLUMNS = ["parse_status", "answer", "p_yes", "mass", "refusal", "score"]


def outcomes_by_request(db_path) -> dict[str, dict]:
    """Each outcome (the columns above) by its canonical request, which does not depend on the URL."""
    rows = open_db(db_path).query(
        "select o.*, r.request, r.text from outcomes o join responses r on r.key = o.request_key"
    )
    return {r["request"]: {c: r[c] for c in [*OUTCOME_COLUMNS, "text"]} for r in rows}


@pytest.fixture(scope="module")
def upstream():
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def fault_free(upstream, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    campaign = write_campaign(tmp, {"scoring": TOPK}, prefill="chatml")
    result = audit(campaign, base_url=upstream.base_url, progress=False)
    assert result.status == "complete"
    return outcomes_by_request(result.db_path)


def test_every_fault_is_retried_recorded_and_changes_nothing(tmp_path, upstream, fault_free):
    rates = dict.fromkeys(FAULTS, 0.05)  # 40% of attempts meet a fault, every kind about as often
    campaign = write_campaign(tmp_path, {"scoring": TOPK}, prefill="chatml", max_retries=8, timeout=0.5)
    with FaultProxy(upstream.base_url, rates, seed=7, slow_seconds=0.8) as proxy:
        result = audit(campaign, base_url=proxy.base_url, progress=False)
    assert result.status == "complete"
    assert set(proxy.injected) == set(FAULTS), proxy.injected  # the seed reaches every kind of fault
    db = open_db(result.db_path)

    # every fault is one failed attempt, recorded with its cause
    failed = Counter(r["error_kind"] for r in db.query("select error_kind from attempts where ok = 0"))
    expected: Counter[str] = Counter()
    for fault, n in proxy.injected.items():
        expected[CAUSE[fault]] += n
    assert failed == expected
    assert db.table("attempts").count_where("ok = 1") == result.n_requests
    assert result.engine.attempts == result.n_requests + proxy.n_faults
    statuses = {(r["error_kind"], r["status"]) for r in db.query("select * from attempts where ok = 0")}
    assert ("http_500", 500) in statuses and ("rate_limited", 429) in statuses

    # what was stored is exactly what the fault-free run stored: no answer came from a failed call
    assert db.table("responses").count_where("error_kind is not null or text is null") == 0
    assert outcomes_by_request(result.db_path) == fault_free


def test_calls_that_fail_every_retry_are_errors_until_a_rerun_heals_them(tmp_path, upstream, fault_free):
    rates = {"http_500": 0.3, "reset": 0.2, "html": 0.2}  # 70%: with one retry, about half the calls fail
    campaign = write_campaign(tmp_path, {"scoring": TOPK}, prefill="chatml", max_retries=1, timeout=0.5)
    with FaultProxy(upstream.base_url, rates, seed=3) as proxy:
        first = audit(campaign, base_url=proxy.base_url, progress=False)
        assert first.status == "incomplete" and first.engine.failed > 0
        db = open_db(first.db_path)
        errors = list(db.query("select * from responses where error_kind is not null"))
        assert len(errors) == first.engine.failed
        assert all(r["text"] is None and r["top_logprobs"] is None for r in errors)
        assert {r["error_kind"] for r in errors} <= {"http_500", "connection", "bad_response"}
        # a failed call is an error outcome: never an answer, a "no" or a refusal
        bad = first.outcomes().query("parse_status == 'error'")
        assert len(bad) == len(errors)
        assert bad["answer"].isna().all() and bad["p_yes"].isna().all() and bad["refusal"].isna().all()
        n_ok = first.n_requests - len(errors)
        assert first.outcomes()["answer"].notna().sum() == n_ok

        proxy.rates = {}  # the faults stop: the same URL, so the same request keys
        healed = audit(campaign, base_url=proxy.base_url, progress=False)
    assert healed.status == "complete"
    assert healed.engine.sent == len(errors) and healed.engine.cached == n_ok  # only the failed ones again
    assert outcomes_by_request(healed.db_path) == fault_free
    assert db.table("attempts").count_where("ok = 0") >= 2 * len(errors)  # their failed attempts are kept


def test_a_target_that_is_down_stores_no_outcome(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    campaign = write_campaign(tmp_path, prefill="chatml", max_retries=1, max_connections=1)
    code = main(["run", str(campaign), "--base-url", f"http://127.0.0.1:{port}/v1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 3
    assert err.startswith("slant: error: openai-compat/fake: 10 requests in a row failed") and "rerun" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    db = open_db(tmp_path / "audit.db")
    assert db.table("outcomes").count == 0
    assert db.table("responses").count_where("error_kind is null") == 0
    assert [r["status"] for r in db.query("select status from runs")] == ["failed"]


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "check OPENAI_API_KEY"), (403, "access to this model"), (404, "check the model name")],
)
def test_a_refused_key_or_unknown_model_stops_at_once_with_what_to_check(status, hint, tmp_path, capsys):
    """401/403/404 used to say 'failed after all retries … rerun to resume': a rerun cannot help."""
    campaign = write_campaign(tmp_path, max_connections=1)
    with FakeOpenAIServer(fail_first=100, fail_status=status) as server:
        code = main(["run", str(campaign), "--base-url", server.base_url, "--no-progress"])
        sent = len(server.received)
    err = capsys.readouterr().err
    assert code == 3 and sent == 1  # the first refusal stops the run: 1 call, not 10 nor every probe
    assert hint in err and "Nothing was retried" in err and "rerun to resume" not in err
    assert len(err.strip().splitlines()) == 1
