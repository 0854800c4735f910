"""Answer constraints: sent as vLLM structured outputs or a llama.cpp grammar, checked on the reply."""

from __future__ import annotations

from conftest import write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.cli import main
from slant.targets import Request

CONSTRAINED = {"scoring": {"sample": {"n": 2, "temperature": 1.0, "max_tokens": 2, "constrain": True}}}


def test_unconstrained_requests_keep_their_keys():
    r = Request((("user", "hi"),))
    assert "choices" not in r.canonical()
    assert Request((("user", "hi"),), choices=("yes", "no")).key("t", "s") != r.key("t", "s")


def test_vllm_target_sends_structured_outputs_and_a_grammar_for_llama_cpp(tmp_path):
    with FakeOpenAIServer(reply_text="{word}") as server:
        campaign = write_campaign(tmp_path, CONSTRAINED, target="vllm/fake", prefill="continue")
        run = audit(campaign, base_url=server.base_url, progress=False)
        chat = [r["body"] for r in server.received if r["path"].endswith("/chat/completions")]
    assert run.status == "complete" and chat
    assert all(b["structured_outputs"] == {"choice": ["yes", "no"]} for b in chat)
    with FakeOpenAIServer() as server:
        campaign = write_campaign(tmp_path / "l", CONSTRAINED, prefill="chatml")
        audit(campaign, base_url=server.base_url, progress=False)
        raw = [r["body"] for r in server.received if not r["path"].endswith("/chat/completions")]
    assert raw and all(b["grammar"] == 'root ::= "yes" | "no"' for b in raw)


def test_an_ignored_constraint_is_an_error_not_an_answer(tmp_path, capsys):
    with FakeOpenAIServer(reply_text="Perhaps, it depends.") as server:  # an old vLLM ignoring the field
        campaign = write_campaign(
            tmp_path, CONSTRAINED, target="vllm/fake", prefill="continue", max_retries=0
        )
        code = main(["run", str(campaign), "--base-url", server.base_url, "--no-progress"])
    assert code == 3  # every call failed the check: the target is taken to be unusable, said in one line
    assert "constraint_ignored: the reply 'Perhaps, it depends.' is not one of" in capsys.readouterr().err
    db = open_db(tmp_path / "audit.db")
    assert {r["error_kind"] for r in db.query("select error_kind from responses")} == {"constraint_ignored"}
    assert db.table("outcomes").count == 0  # nothing was read as a yes, a no or a refusal
