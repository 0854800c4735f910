"""Whole-sequence log-likelihood requests: each continuation's summed log-probability after a raw text
(or a chat prompt), read from the prompt log-probabilities a completions server echoes."""

from __future__ import annotations

import asyncio
import json

import pytest
from openai_server import FakeOpenAIServer

from slant.run import _reply_row, reply_from_row
from slant.targets import OpenAICompatTarget, Reply, TargetError, loglikelihood_unsupported, resolve_target
from slant.targets.base import loglikelihood
from slant.targets.openai_compat import prompt_part


def planted(before: str, token: str) -> float:
    """-1 per token, -3 for " nurse" in a sentence about "he" (a stereotype the test plants)."""
    return -3.0 if token == " nurse" and " he " in before else -1.0


def complete(server: FakeOpenAIServer, request, bos: str | None = None) -> Reply:
    async def go() -> Reply:
        target = OpenAICompatTarget("openai-compat/fake", "fake", server.base_url, None)
        target.bos = bos
        async with target:
            return await target.complete(request)

    return asyncio.run(go())


def test_each_continuation_gets_its_summed_logprob_and_token_count():
    with FakeOpenAIServer() as server:
        server.token_logprob = planted
        reply = complete(server, loglikelihood((" he is a nurse.", " she is a nurse."), text="Then"))
    assert reply.continuation_logprobs == {" he is a nurse.": -7.0, " she is a nurse.": -5.0}
    assert reply.continuation_tokens == {" he is a nurse.": 5, " she is a nurse.": 5}
    assert reply.text == "" and reply.finish_reason == "loglikelihood"
    sent = [r["body"] for r in server.received]
    assert [b["prompt"] for b in sent] == ["Then he is a nurse.", "Then she is a nurse."]
    assert all(b["echo"] and b["max_tokens"] == 1 and b["temperature"] == 0 for b in sent)


def test_an_empty_context_is_conditioned_on_the_start_token():
    with FakeOpenAIServer() as server:
        server.token_logprob = planted
        reply = complete(server, loglikelihood(("Women drive.", "Men drive."), text=""), bos="<s>")
        assert reply.continuation_logprobs == {"Women drive.": -3.0, "Men drive.": -3.0}
        assert [r["body"]["prompt"] for r in server.received] == ["<s>Women drive.", "<s>Men drive."]
        # without a start token the first word has no log-probability: an error, not a shorter sum
        with pytest.raises(TargetError, match="no log-probability") as e:
            complete(server, loglikelihood(("Women drive.", "Men drive."), text=""))
    assert e.value.kind == "no_loglikelihood" and not e.value.retryable


def test_a_server_that_ignores_echo_is_an_error_never_a_number():
    with FakeOpenAIServer() as server:
        server.echo = False
        with pytest.raises(TargetError, match="echoed no prompt log-probabilities"):
            complete(server, loglikelihood((" a", " b"), text="x"))


def test_the_reply_is_stored_and_read_back_whole():
    with FakeOpenAIServer() as server:
        server.token_logprob = planted
        request = loglikelihood((" he is a nurse.", " she is a nurse."), text="Then")
        reply = complete(server, request)
    target = OpenAICompatTarget("openai-compat/fake", "fake", "http://x", None)
    row = _reply_row("k", target, request, "s", reply, 1.0, 1)
    stored = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()}
    back = reply_from_row(stored)
    assert back.continuation_logprobs == reply.continuation_logprobs
    assert back.continuation_tokens == reply.continuation_tokens


def test_requests_are_keyed_by_text_and_continuations():
    a = loglikelihood((" x", " y"), text="Then")
    assert a.is_loglikelihood and a.key("t", "s") == loglikelihood((" x", " y"), text="Then").key("t", "s")
    assert a.key("t", "s") != loglikelihood((" x", " y"), text="Than").key("t", "s")
    assert "text" not in loglikelihood((" x",), messages=(("user", "hi"),)).canonical()
    with pytest.raises(ValueError, match="must differ"):
        loglikelihood((" x", " x"), text="Then")


def test_the_hosted_api_cannot_and_completions_servers_can(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert "no prompt log-probabilities" in loglikelihood_unsupported(resolve_target("openai/gpt-4o-mini"))
    local = resolve_target("openai-compat/m", base_url="http://127.0.0.1:1/v1")
    assert loglikelihood_unsupported(local) is None
    assert loglikelihood_unsupported(resolve_target("local")) is None


def test_the_echo_is_cut_where_the_prompt_ends_whichever_way_the_server_lists_it():
    """vLLM lists the generated token after the prompt's, llama-cpp-python leaves it out; a generated
    end-of-text token is an empty string."""
    lps = [None, -1.0, -2.0, -0.5]
    assert prompt_part(["<s>", "A", " cat", "'s"], lps, "'s") == (["<s>", "A", " cat"], lps[:3])
    assert prompt_part(["A", " cat", " sat", " on"], lps, " down") == (["A", " cat", " sat", " on"], lps)
    assert prompt_part(["A", " cat", " sat", ""], lps, "") == (["A", " cat", " sat"], lps[:3])


def test_the_echo_calls_tokens_are_counted_in_the_reply():
    with FakeOpenAIServer() as server:
        server.token_logprob = planted
        reply = complete(server, loglikelihood((" he is a nurse.", " she is a nurse."), text="Then"))
    assert reply.usage == {
        "prompt_tokens": 12,
        "completion_tokens": 2,
    }  # 6 prompt tokens and 1 generated, twice
