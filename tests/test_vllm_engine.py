"""vllm-engine/<model> without a GPU: request mapping, reading vLLM-shaped outputs, batching, and the
one-line error when vLLM is not installed. (Unverified against a real vllm.LLM: no GPU here.)"""

from __future__ import annotations

import asyncio
import importlib.util
from types import SimpleNamespace

import pytest

from slant.errors import TargetUnavailable
from slant.targets import Request, TargetError, VLLMEngineTarget, resolve_target
from slant.targets.vllm_engine import conversation, reply_from_output, sampling_kwargs

REQ = Request(
    (("system", "Decide."), ("user", "Approve?")), max_tokens=1, top_logprobs=2, prefill='my answer is "'
)


def output(text: str, tops: list[dict[str, float]]) -> SimpleNamespace:
    """A RequestOutput as vLLM builds it: logprobs are token id → Logprob(logprob, rank, decoded_token)."""
    positions = [
        {
            i: SimpleNamespace(logprob=lp, rank=i + 1, decoded_token=tok)
            for i, (tok, lp) in enumerate(top.items())
        }
        for top in tops
    ]
    first = SimpleNamespace(text=text, token_ids=[7] * len(tops), finish_reason="length", logprobs=positions)
    return SimpleNamespace(outputs=[first], prompt_token_ids=[1, 2, 3])


def test_request_mapping_and_prefill():
    assert sampling_kwargs(REQ) == {"temperature": 0.0, "max_tokens": 1, "seed": 0, "logprobs": 2}
    assert conversation(REQ)[-1] == {"role": "assistant", "content": 'my answer is "'}
    assert isinstance(resolve_target("vllm-engine/Qwen/Qwen3-8B"), VLLMEngineTarget)


def test_reply_from_vllm_output():
    reply = reply_from_output(output("yes", [{"yes": -0.1, "no": -2.4}]), REQ)
    assert reply.top_logprobs == [{"yes": -0.1, "no": -2.4}] and reply.prefill_applied
    assert reply.usage == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    constrained = Request((("user", "x"),), choices=("yes", "no"))
    with pytest.raises(TargetError, match="not one of"):
        reply_from_output(output("maybe", []), constrained)


def test_concurrent_requests_are_batched_into_one_call():
    calls: list[tuple[int, bool]] = []

    class FakeLLM:  # records what vllm.LLM.chat would be asked
        def chat(self, convs, params, add_generation_prompt, continue_final_message, use_tqdm):
            calls.append((len(convs), continue_final_message))
            return [output("yes", [{"yes": -0.2, "no": -1.8}]) for _ in convs]

    async def go() -> list:
        target = VLLMEngineTarget("m", batch_wait=0.05)
        target.llm, target.make_params = FakeLLM(), sampling_kwargs
        async with target:
            return await asyncio.gather(*(target.complete(REQ) for _ in range(20)))

    replies = asyncio.run(go())
    assert len(replies) == 20 and calls == [(20, True)]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")
def test_without_vllm_the_error_is_one_line():
    async def go() -> None:
        async with VLLMEngineTarget("m"):
            pass

    with pytest.raises(TargetUnavailable, match="needs vLLM in this environment"):
        asyncio.run(go())
