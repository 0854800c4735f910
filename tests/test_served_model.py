"""Where calls really went: the model name the server reports is stored, and a label that differs from it
(another model name, an ``openai/…`` target sent to another URL) is noted once, never failing the run."""

from __future__ import annotations

import json

import pytest
from conftest import write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.cli import main
from slant.report import markdown, summary
from slant.targets import resolve_target
from slant.targets.openai_compat import HOSTED_URL

GGUF = "/models/fake-Q4_K_M.gguf"


@pytest.fixture(autouse=True)
def no_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.setenv(var, "placeholder")
        monkeypatch.delenv(var)


def notes_in(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("note: ")]


def test_a_server_reporting_another_model_name_is_stored_and_noted_once(tmp_path, capsys):
    campaign = write_campaign(tmp_path, prefill="chatml")
    with FakeOpenAIServer() as srv:
        srv.served_model = GGUF
        code = main(["run", str(campaign), "--base-url", srv.base_url, "--no-progress", "--limit", "8"])
    out = capsys.readouterr().out
    assert code == 0  # servers name aliases and file paths: a note, not a failure
    assert notes_in(out) == [
        f"note: target openai-compat/fake: the server at {srv.base_url} reported model {GGUF}, not fake "
        "(stored as served_model)"
    ]
    db = open_db(tmp_path / "audit.db")
    assert {r[0] for r in db.execute("select served_model from responses")} == {GGUF}
    target = next(db.query("select * from targets"))
    assert (target["model"], target["served_model"], target["base_url"]) == ("fake", GGUF, srv.base_url)
    run = next(db.query("select * from runs"))
    provenance = json.loads(run["provenance"])
    assert provenance["served_models"] == [GGUF] and provenance["notes"] == [notes_in(out)[0][6:]]
    # a report of the run says it again; a rerun with nothing to send too
    assert f"- note: {provenance['notes'][0]}" in markdown(summary(db, run["id"]))
    assert main(["run", str(campaign), "--base-url", srv.base_url, "--no-progress", "--limit", "8"]) == 0
    assert len(notes_in(capsys.readouterr().out)) == 1


def test_a_server_reporting_the_model_asked_for_gets_no_note(tmp_path):
    campaign = write_campaign(tmp_path, prefill="chatml")
    with FakeOpenAIServer() as srv:
        result = audit(campaign, base_url=srv.base_url, limit=8, progress=False)
    db = open_db(result.db_path)
    assert result.status == "complete" and result.notes == []
    assert next(db.query("select served_model from targets"))["served_model"] == "fake"
    assert json.loads(next(db.query("select provenance from runs"))["provenance"])["served_models"] == [
        "fake"
    ]


def test_an_openai_label_sent_to_another_url_records_where_calls_went(tmp_path):
    """`--target openai/gpt-4o-mini` with a local base URL: calls go there, and the record says so."""
    campaign = write_campaign(tmp_path, prefill="chatml")
    with FakeOpenAIServer() as srv:
        srv.served_model = "llama-3-8b"
        result = audit(campaign, target="openai/gpt-4o-mini", base_url=srv.base_url, limit=8, progress=False)
        assert {r["body"]["model"] for r in srv.received} == {"gpt-4o-mini"}
    assert result.status == "complete"
    db = open_db(result.db_path)
    target = next(db.query("select * from targets"))
    assert target["name"] == "openai/gpt-4o-mini"
    assert (target["provider"], target["base_url"], target["served_model"]) == (
        "openai-compat",
        srv.base_url,
        "llama-3-8b",
    )
    assert result.notes == [
        f"target openai/gpt-4o-mini: the server at {srv.base_url} reported model llama-3-8b, not gpt-4o-mini "
        "(stored as served_model)",
        f"target openai/gpt-4o-mini: calls went to {srv.base_url}, not the hosted API "
        "(recorded as provider openai-compat)",
    ]


@pytest.mark.parametrize("base_url", [None, "https://api.openai.com/v1/"])
def test_the_hosted_api_is_recorded_by_its_url(monkeypatch, base_url):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    d = resolve_target("openai/gpt-4o-mini", base_url).describe()
    assert d["provider"] == "openai" and d["base_url"] == (base_url or HOSTED_URL)
