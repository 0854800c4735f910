"""How the decision family reads P(yes): exactly from the yes/Yes/no/No continuations where the target
scores them (lm-evaluation-harness's discrim-eval read), else from the first token's top-k, as a bound
when an answer is missing from it; and how the reads are counted in the method (issue 16)."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import write_campaign
from openai_server import FakeOpenAIServer
from scipy.special import expit, logit

from slant import audit, open_db
from slant.detect.answer import p_first_answer_bound
from slant.probes import decision
from slant.targets import Reply, Request, VLLMEngineTarget
from slant.targets.openai_compat import continuation_logprob
from slant.targets.vllm_engine import sampling_kwargs


def outcomes(result) -> pd.DataFrame:
    o = result.outcomes()
    return o.assign(source=o["detail"].map(lambda d: json.loads(d)["p_yes_source"] if d else None))


def method(result, metric: str = "discrimination_score") -> set[str]:
    db = open_db(result.db_path)
    return {r["method"] for r in db.query("select method from disparities where metric = ?", [metric])}


def test_exact_p_yes_from_continuations_equals_the_hand_computed_normalised_value(tmp_path):
    # after the prefill: yes 0.63, no 0.27 (the top-k), Yes 0.03, No 0.01 (outside it)
    campaign = write_campaign(tmp_path, prefill="chatml")
    with FakeOpenAIServer(p_yes=0.7, mass=0.9, cased=(0.03, 0.01)) as server:
        result = audit(campaign, base_url=server.base_url, progress=False, limit=16)
    o = outcomes(result)
    assert (o["source"] == "exact").all() and (o["parse_status"] == "ok").all()
    assert o["p_yes"].to_list() == pytest.approx([(0.63 + 0.03) / (0.63 + 0.03 + 0.27 + 0.01)] * 16, abs=1e-9)
    assert o["mass"].to_list() == pytest.approx([0.94] * 16, abs=1e-9)
    echoes = [r["body"] for r in server.received if r["body"].get("echo")]
    reads = [r["body"] for r in server.received if not r["body"].get("echo")]
    assert len(reads) == 16 and len(echoes) == 4 * 16
    prompts = {
        b["prompt"] for b in reads
    }  # each echo is a read's prompt with a continuation written after it
    written = Counter(
        c
        for b in echoes
        for c in ("yes", "Yes", "no", "No")
        if b["prompt"].endswith(c) and b["prompt"][: -len(c)] in prompts
    )
    assert written == dict.fromkeys(("yes", "Yes", "no", "No"), 16)
    stored = json.loads(
        next(iter(open_db(result.db_path).query("select * from responses")))["continuation_logprobs"]
    )
    assert stored == pytest.approx(
        {"yes": math.log(0.63), "Yes": math.log(0.03), "no": math.log(0.27), "No": math.log(0.01)}
    )
    assert all(
        "P(yes): 16 exact; 0 below min_mass 0.5 left out; 16 usable below the 0.99" in m
        for m in method(result)
    )


def test_continuations_listed_in_the_top_k_are_read_there_without_echo_calls(tmp_path):
    """log P(token | prefill) is the first token's logprob: when the top-k lists all four answers as whole
    tokens, the exact read needs no echo call (one call per probe, as a top-k read)."""
    campaign = write_campaign(tmp_path, prefill="chatml")
    with FakeOpenAIServer(p_yes=0.7, mass=0.9, cased=(0.03, 0.01)) as server:
        server.list_cased = True
        result = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    o = outcomes(result)
    assert server.n_completions == 8 and not [r for r in server.received if r["body"].get("echo")]
    assert (o["source"] == "exact").all()
    assert o["p_yes"].to_list() == pytest.approx([(0.63 + 0.03) / (0.63 + 0.03 + 0.27 + 0.01)] * 8, abs=1e-9)


def test_the_exact_read_is_cached_and_retried_as_one_request(tmp_path):
    campaign = write_campaign(tmp_path, prefill="chatml", max_retries=5)
    with FakeOpenAIServer(fail_first=1, retry_after=0.01) as server:  # each of the 5 calls fails once
        result = audit(campaign, base_url=server.base_url, progress=False, limit=4)
        again = audit(campaign, base_url=server.base_url, progress=False, limit=4)
    assert result.status == "complete" and (outcomes(result)["source"] == "exact").all()
    db = open_db(result.db_path)
    assert [r["attempts"] for r in db.query("select distinct attempts from responses")] == [6]
    assert again.engine.sent == 0 and (outcomes(again)["p_yes"] == outcomes(result)["p_yes"]).all()


def test_a_server_that_ignores_echo_gives_the_top_k_read(tmp_path):
    campaign = write_campaign(tmp_path, prefill="chatml")
    with FakeOpenAIServer(p_yes=0.7, mass=0.9) as server:
        server.echo = False
        result = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    o = outcomes(result)
    assert (o["source"] == "topk").all() and o["p_yes"].to_list() == pytest.approx([0.7] * 8, abs=1e-12)
    assert all("P(yes): 8 top-k reads;" in m for m in method(result))


def test_topk_scoring_sends_one_call_per_probe(tmp_path):
    campaign = write_campaign(tmp_path, {"scoring": "topk"}, prefill="chatml")
    with FakeOpenAIServer(p_yes=0.7, mass=0.9) as server:
        result = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    assert server.n_completions == 8 and (outcomes(result)["source"] == "topk").all()


def test_an_answer_missing_from_the_top_k_is_a_bound_not_zero(tmp_path):
    # chat only: the top-1 list holds yes (0.873); "no" (0.027) is outside it, at most what the list
    # leaves out (0.127) and at most the listed probability (0.873): P(yes) = 0.873 / (0.873 + 0.127)
    campaign = write_campaign(tmp_path, prefill="none")
    with FakeOpenAIServer(p_yes=0.97, mass=0.9, top_k=1) as server:
        result = audit(campaign, base_url=server.base_url, progress=False)
    o = outcomes(result)
    assert (o["source"] == "topk_bound").all() and (o["parse_status"] == "ok").all()
    assert o["p_yes"].to_list() == pytest.approx([0.873 / (0.873 + 0.127)] * len(o), abs=1e-9)
    assert o["mass"].to_list() == pytest.approx([0.873] * len(o), abs=1e-9)  # what the list gave the answers
    assert json.loads(o["detail"].iloc[0])["missing"] == ["no"]
    assert all(f"P(yes): {len(o)} top-k bounds" in m for m in method(result))


def test_p_first_answer_bound():
    ln = math.log
    both = {"yes": ln(0.6), "no": ln(0.3), "The": ln(0.05)}
    assert p_first_answer_bound(both, ("yes", "no")) == (pytest.approx(0.6 / 0.9), pytest.approx(0.9), [])
    # the k-th probability binds (0.05 < 1 - 0.9 - 0.05)
    p, mass, missing = p_first_answer_bound({"yes": ln(0.8), "The": ln(0.05), "A": ln(0.05)})
    assert (p, mass, missing) == (pytest.approx(0.8 / 0.85), pytest.approx(0.8), ["no"])
    # what the list leaves out binds: a list that sums to 1 leaves nothing for "no"
    assert p_first_answer_bound({"yes": ln(0.7), "The": ln(0.3)})[0] == pytest.approx(1.0)
    assert p_first_answer_bound({"no": ln(0.5), " No": ln(0.2), "x": ln(0.1)})[0] == pytest.approx(0.1 / 0.8)
    assert p_first_answer_bound({"The": ln(0.9)}) == (None, 0.0, ["yes", "no"])


def test_continuation_logprob_reads_the_tokens_that_spell_it():
    tokens, lps = ["<s>", " is", ' "', "Y", "es"], [None, -1.0, -0.5, -2.0, -0.25]
    assert continuation_logprob(tokens, lps, "Yes") == (-2.25, 2)  # two tokens, summed
    assert continuation_logprob([*tokens[:2], ' "Yes'], [None, -1.0, -3.0], "Yes") is None  # straddles
    assert continuation_logprob(["yes"], [None], "yes") is None  # no logprob (the first token)


def test_p_yes_note_counts_sources_low_mass_and_the_guideline():
    d = pd.DataFrame(
        {
            "parse_status": ["ok", "ok", "ok", "low_mass", "error"],
            "mass": [0.995, 0.9, 0.7, 0.2, None],
            "detail": [
                json.dumps({"p_yes_source": "exact"}),
                json.dumps({"p_yes_source": "topk"}),
                {"p_yes_source": "topk_bound"},
                json.dumps({"p_yes_source": "topk"}),
                None,
            ],
        }
    )
    assert decision.p_yes_note(d, 0.5) == (
        "P(yes): 1 exact, 1 top-k reads, 1 top-k bounds (an answer outside the top-k set to its bound); "
        "1 below min_mass 0.5 left out; 2 usable below the 0.99 answer-mass guideline"
    )
    assert decision.p_yes_note(d.assign(detail=None), 0.5) is None  # sampled answers: no logprob read


def test_vllm_engine_scores_continuations_from_prompt_logprobs():
    params: list[dict] = []

    def output(conv: list[dict]) -> SimpleNamespace:
        """A RequestOutput: the generated "yes", and prompt logprobs of a prompt ending in the assistant's
        text (one token per character after the prefill's quote: "Y", "es" would do as well)."""
        text = conv[-1]["content"]
        tail = text.split('"')[-1]
        tokens = ["<p>", ' "', *([tail] if tail else [])]
        lp = {"yes": -0.5, "Yes": -2.0, "no": -1.5, "No": -3.0}.get(tail, -9.0)
        positions = [None, {11: SimpleNamespace(logprob=-0.1, decoded_token=' "')}]
        if tail:
            positions.append({12: SimpleNamespace(logprob=lp, decoded_token=tail)})
        first = SimpleNamespace(text="yes", token_ids=[7], finish_reason="length", logprobs=None)
        return SimpleNamespace(
            outputs=[first], prompt_token_ids=[10, 11, 12][: len(tokens)], prompt_logprobs=positions
        )

    class FakeLLM:  # what vllm.LLM.chat returns, for conversations as slant sends them
        def chat(self, convs, sampling, add_generation_prompt, continue_final_message, use_tqdm):
            params.extend(sampling)
            return [output(c) for c in convs]

    async def go():
        target = VLLMEngineTarget("m", batch_wait=0.01)
        target.llm, target.make_params = FakeLLM(), sampling_kwargs
        request = Request(
            (("user", "Approve?"),), prefill='my answer is "', continuations=("yes", "Yes", "no", "No")
        )
        async with target:
            return await target.complete(request)

    reply = asyncio.run(go())
    assert reply.continuation_logprobs == {"yes": -0.5, "Yes": -2.0, "no": -1.5, "No": -3.0}
    assert [p.get("prompt_logprobs") for p in params] == [None, 0, 0, 0, 0]
    p_yes = (math.exp(-0.5) + math.exp(-2.0)) / sum(map(math.exp, (-0.5, -2.0, -1.5, -3.0)))
    assert decision.read_p_yes(reply, ("yes", "no"), 0.5)["p_yes"] == pytest.approx(p_yes, abs=1e-12)


def test_exact_p_yes_equals_lm_evaluation_harness():
    """Continuation log-likelihoods → P(yes) as the reference's process_results computes it (its logit,
    stored by running it), including values far beyond the old ±13.8 clip."""
    cases = json.loads((Path(__file__).parent / "data" / "discrim_eval" / "p_yes_reference.json").read_text())
    for case in cases["cases"]:
        reply = Reply("yes", "length", "completions", continuation_logprobs=case["continuation_logprobs"])
        p_yes = decision.read_p_yes(reply, ("yes", "no"), 0.5)["p_yes"]
        assert p_yes == pytest.approx(expit(case["logit_yes"]), abs=1e-12, rel=1e-9)
        assert logit(p_yes) == pytest.approx(case["logit_yes"], rel=1e-6)
    assert (
        min(c["logit_yes"] for c in cases["cases"])
        < -13.9
        < 13.9
        < max(c["logit_yes"] for c in cases["cases"])
    )
