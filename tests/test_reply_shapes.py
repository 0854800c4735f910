"""Every reply shape a broken server can send becomes a stored error with its cause or an outcome status,
never a traceback, a probability or a run left 'running' (issue 14, C7–C8)."""

from __future__ import annotations

import json

import pytest
from conftest import write_campaign
from openai_server import SHAPES, FakeOpenAIServer

from slant import open_db
from slant.cli import main
from slant.errors import EXIT_INCOMPLETE

# what each shape must become, for the chat endpoint (prefill none) and raw completions (chatml)
EXPECTED = {
    "inf_logprob": "bad_logprobs",
    "string_logprob": "bad_logprobs",
    "positive_logprobs": "bad_logprobs",
    "null_message": "bad_response",
    "array_body": "bad_response",
    "null_top_logprobs": "no_logprobs",
    "empty_top_logprobs": "no_logprobs",
}


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("prefill", ["none", "chatml"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_broken_reply_is_an_error_or_a_status_never_an_answer(shape, prefill, tmp_path, capsys):
    if shape == "null_message" and prefill == "chatml":
        pytest.skip("raw completions carry no message")
    campaign = write_campaign(tmp_path, max_retries=0, prefill=prefill)
    with FakeOpenAIServer() as server:
        server.shape = shape
        code = main(["run", str(campaign), "--base-url", server.base_url, "--no-progress", "--limit", "8"])
    assert code == EXIT_INCOMPLETE
    db = open_db(tmp_path / "audit.db")
    run = next(iter(db.query("select status from runs")))
    outcomes = list(db.query("select parse_status, p_yes from outcomes"))
    assert len(outcomes) == 8 and all(o["p_yes"] is None for o in outcomes)  # never a probability
    expected = EXPECTED[shape]
    if expected == "no_logprobs":  # one behaviour for "no logprobs", whichever way the server says it
        assert run["status"] == "unusable" and {o["parse_status"] for o in outcomes} == {"no_logprobs"}
    else:
        assert run["status"] == "incomplete" and {o["parse_status"] for o in outcomes} == {"error"}
        kinds = {r["error_kind"] for r in db.query("select error_kind from responses")}
        assert kinds == {expected}
    capsys.readouterr()
    assert main(["report", "--db", str(tmp_path / "audit.db"), "--json", "-"]) == 0
    _strict_json(capsys.readouterr().out)  # no Infinity or NaN in what is written as JSON


def test_shapes_are_what_they_say():
    """The test server's shapes, checked on one reply each (a shape that changed nothing tests nothing)."""
    from openai_server import reshape

    body = {"messages": [{"role": "user", "content": "x"}], "logprobs": True, "top_logprobs": 5}
    with FakeOpenAIServer() as server:
        _, chat, _ = server.answer("/v1/chat/completions", {}, body)
    for shape in SHAPES:
        assert reshape(json.loads(json.dumps(chat)), shape) != chat, shape


def test_report_json_is_strict_json_even_when_a_stored_number_is_not_finite(tmp_path, capsys):
    campaign = write_campaign(tmp_path)
    with FakeOpenAIServer() as server:
        assert main(["run", str(campaign), "--base-url", server.base_url, "--no-progress"]) == 0
    db = open_db(tmp_path / "audit.db")
    db.execute("update disparities set estimate = 9e999, ci_high = -9e999 where metric = 'paired_gap'")
    db.conn.commit()
    capsys.readouterr()
    assert main(["report", "--db", str(tmp_path / "audit.db"), "--json", "-"]) == 0
    data = _strict_json(capsys.readouterr().out)
    gaps = [r for r in data["disparities"] if r["metric"] == "paired_gap"]
    assert gaps and all(r["estimate"] is None and r["ci_high"] is None for r in gaps)
