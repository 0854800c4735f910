"""Targets over real HTTP: names, keys from .env, prefill modes, timeouts, a target that is down."""

from __future__ import annotations

import socket

import pytest
from conftest import write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.cli import main
from slant.errors import EXIT_BAD_INPUT, EXIT_INCOMPLETE, SlantError
from slant.targets import resolve_target

FAKE_KEY = "sk-slanttest-0123456789abcdef"


def test_key_from_dotenv_is_sent_to_the_server_and_stored_nowhere(tmp_path, monkeypatch, server):
    monkeypatch.setenv("OPENAI_API_KEY", "placeholder")  # so that monkeypatch restores the environment
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={FAKE_KEY}\n")
    campaign = write_campaign(tmp_path, prefill="chatml")
    result = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    assert result.status == "complete"
    assert {r["headers"].get("authorization") for r in server.received} == {f"Bearer {FAKE_KEY}"}
    open_db(result.db_path).conn.close()
    for path in tmp_path.glob("audit.db*"):
        assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_vllm_prefill_continues_the_assistant_message(tmp_path, server):
    campaign = write_campaign(tmp_path, target="vllm/fake")
    result = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    body = server.received[0]["body"]
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant"]
    assert body["messages"][-1]["content"].startswith("Based on the information provided")
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert result.status == "complete"


def test_slow_replies_time_out_and_are_stored_as_timeouts(tmp_path):
    campaign = write_campaign(tmp_path, prefill="chatml", timeout=0.3, max_retries=0)
    with FakeOpenAIServer(delay=1.0) as srv:
        result = audit(campaign, base_url=srv.base_url, progress=False, limit=8)
    assert result.status == "incomplete"
    db = open_db(result.db_path)
    assert {r["error_kind"] for r in db.query("select error_kind from responses")} == {"timeout"}
    assert result.outcomes()["parse_status"].eq("error").all()


def test_a_target_that_is_down_stops_the_run_with_a_clear_message(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    campaign = write_campaign(tmp_path, prefill="chatml", max_retries=0)
    code = main(["run", str(campaign), "--base-url", f"http://127.0.0.1:{port}/v1", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_INCOMPLETE
    assert (
        err.startswith("slant: error: openai-compat/fake: 10 requests in a row failed")
        and "connection" in err
    )
    db = open_db(tmp_path / "audit.db")
    assert [r["status"] for r in db.query("select status from runs")] == ["failed"]
    assert db.table("outcomes").count == 0  # nothing scored from calls that never got an answer
    assert db.table("responses").count_where("error_kind is null") == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpt-4o", "unknown target 'gpt-4o'"),
        ("anthropic/claude", "unknown target 'anthropic/claude'"),
        ("vllm/", "unknown target 'vllm/'"),
        ("openai-compat/m", "needs a base_url"),
    ],
)
def test_bad_target_names(monkeypatch, name, message):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(SlantError, match=message):
        resolve_target(name)


def test_hosted_openai_without_a_key_is_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "placeholder")
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    campaign = write_campaign(tmp_path, target="openai/gpt-4o-mini")
    assert main(["run", str(campaign)]) == EXIT_BAD_INPUT
    assert "needs OPENAI_API_KEY" in capsys.readouterr().err


def test_the_hosted_api_gets_the_organization_and_project_headers_and_no_other_url_does(monkeypatch):
    from slant.targets.openai_compat import headers

    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-test")
    hosted = headers("sk-test", None)
    assert hosted["Authorization"] == "Bearer sk-test"
    assert (hosted["OpenAI-Organization"], hosted["OpenAI-Project"]) == ("org-test", "proj-test")
    assert headers("sk-test", "https://api.openai.com/v1")["OpenAI-Project"] == "proj-test"
    other = headers("sk-test", "http://127.0.0.1:8000/v1")
    assert "OpenAI-Organization" not in other and "OpenAI-Project" not in other
    monkeypatch.delenv("OPENAI_PROJECT_ID")
    assert "OpenAI-Project" not in headers("sk-test", None)
