"""The LLM refusal judge: its calls go through the engine, its labels sit beside the rules' labels."""

from __future__ import annotations

import json

import pytest
from conftest import write_campaign
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.annotate import RULES, judge_refusals
from slant.cli import main
from slant.detect.judge import LABELS, label_orders
from slant.detect.refusal import classify_refusal


def test_judge_labels_every_reply_and_agreement_is_reported(tmp_path, server, capsys):
    campaign = write_campaign(tmp_path, prefill="chatml")
    run = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    with FakeOpenAIServer(reply_text="Full_refusal.") as judge:
        result = judge_refusals(
            run.db_path, target="openai-compat/judge", base_url=judge.base_url, progress=False
        )
        assert (result.n_replies, result.n_judged, result.calls_sent) == (8, 8, 8)
        # the rules call every "yes"/"no" a compliance, the judge calls everything a full refusal
        assert result.agreement == 0.0 and result.kappa == 0.0
        body = judge.received[0]["body"]
        assert "Reply to label" in body["messages"][1]["content"]
        assert "Answer the question above" in body["messages"][1]["content"]  # the probe's question
        again = judge_refusals(
            run.db_path, target="openai-compat/judge", base_url=judge.base_url, progress=False
        )
        assert again.calls_sent == 0  # cached by request key
        db = open_db(run.db_path)
        labels = {(r["annotator"], r["label"]) for r in db.query("select annotator, label from annotations")}
        assert labels == {(RULES, "compliance"), ("judge:openai-compat/judge", "full_refusal")}
        assert (
            main(
                [
                    "judge",
                    "--db",
                    str(run.db_path),
                    "--target",
                    "openai-compat/judge",
                    "--base-url",
                    judge.base_url,
                    "--no-progress",
                ]
            )
            == 0
        )
    out = capsys.readouterr().out
    assert "labelled 8 of 8 replies" in out and "Cohen's kappa 0.000" in out


def test_unparseable_judge_answers_are_not_labels(tmp_path, server):
    campaign = write_campaign(tmp_path, prefill="chatml")
    run = audit(campaign, base_url=server.base_url, progress=False, limit=8)
    with FakeOpenAIServer(reply_text="It depends on the context.") as judge:
        result = judge_refusals(
            run.db_path, target="openai-compat/judge", base_url=judge.base_url, progress=False
        )
    assert result.n_judged == 0 and result.kappa is None and result.agreement is None
    assert (result.n_unparsed, result.n_failed) == (8, 0)
    db = open_db(run.db_path)
    assert db.table("annotations").count_where("annotator like 'judge:%' and label is null") == 8


# Replies by applicant (the audit server's reply_fn reads the probe's question; prefill none: the chat
# endpoint); classify_refusal's
# label on the judge's scale; and how the scripted judge answers, given the definitions' order.
REPLIES = {
    "30-year-old white man": "Yes.",
    "30-year-old Black man": "Yes.",
    "30-year-old white woman": "No.",
    "30-year-old Black woman": "No.",
    "70-year-old white man": "I'm sorry, but I can't help with that.",
    "70-year-old Black man": "I'm sorry, but I can't help with that.",
    "70-year-old white woman": "I will not answer that question.",
    "70-year-old Black woman": "I will not answer that question.",
}
RULES_LABELS = {"Yes.": "compliance", "No.": "compliance"}  # the two refusals: full_refusal


def applicant_reply(question: str) -> str:
    return next(text for who, text in REPLIES.items() if who in question)


def order_sensitive_judge(messages: list[dict[str, str]]) -> str:
    """Right on "Yes." and the first refusal; on "No." it names whichever definition it read first; on
    "I will not …" it says something unparseable when compliance comes first, else full_refusal."""
    system, user = messages[0]["content"], messages[1]["content"]
    first = min(LABELS, key=lambda label: system.index(f"\n{label}: "))
    if "Yes." in user:
        return "compliance"
    if "No." in user:
        return first
    if "I can't help" in user:
        return "Full_refusal."
    return "It depends." if first == "compliance" else "full_refusal"


def test_repeats_with_shuffled_definitions_measure_self_consistency_and_kappa(tmp_path):
    for text in REPLIES.values():
        assert classify_refusal(text).label == RULES_LABELS.get(text, "full_refusal")  # the premise
    c, f, p = "compliance", "full_refusal", "partial_refusal"
    # seed 0: the prompt file's order, then two others; the judge reads C, F, F first in the 3 repeats
    assert label_orders(3, 0) == [(c, f, p), (f, p, c), (f, c, p)]
    with FakeOpenAIServer(reply_fn=applicant_reply) as model:
        run = audit(
            write_campaign(tmp_path, prefill="none"), base_url=model.base_url, progress=False, limit=8
        )
    with FakeOpenAIServer(messages_fn=order_sensitive_judge) as judge:
        result = judge_refusals(
            run.db_path, target="openai-compat/judge", base_url=judge.base_url, repeats=3, progress=False
        )
        bodies = [r["body"] for r in judge.received]
        again = judge_refusals(
            run.db_path, target="openai-compat/judge", base_url=judge.base_url, repeats=3, progress=False
        )
    assert again.calls_sent == 0 and again.kappa == result.kappa  # each repeat is cached
    # 8 replies × 3 repeats, each its own request, at temperature 0 with the seed
    assert len(bodies) == 24 == len({json.dumps(b["messages"]) for b in bodies})
    assert {(b["temperature"], b["seed"]) for b in bodies} == {(0, 0)}
    assert (result.repeats, result.n_replies, result.calls_sent) == (3, 8, 24)
    # "I will not …" in repeat 0: two answers that name no label, counted, not labels
    assert (result.n_unparsed, result.n_failed) == (2, 0)
    # Self-consistency over the 6 replies whose 3 judgements all parsed: "Yes." (C,C,C) ×2 and
    # "I can't help" (F,F,F) ×2 agree, "No." (C,F,F) ×2 does not: 4/6.
    # Fleiss' kappa, 6 replies × 3 raters, counts per reply (C, P, F): (3,0,0)×2, (1,0,2)×2, (0,0,3)×2.
    #   P_i = (Σ n_ij² − 3) / (3·2): 1, 1, 1/3, 1/3, 1, 1 → mean 7/9
    #   p_C = 8/18, p_F = 10/18 → P_e = (16 + 25) / 81 = 41/81
    #   kappa = (7/9 − 41/81) / (1 − 41/81) = (22/81) / (40/81) = 0.55
    consistency = result.consistency
    assert (consistency["n"], consistency["n_incomplete"]) == (6, 2)
    assert consistency["consistent"] == pytest.approx(4 / 6)
    assert consistency["fleiss_kappa"] == pytest.approx(0.55)
    # Majority labels: Yes → C, No → F (2 of 3), I can't help → F, I will not → F (2 of 3, 1 unparsed).
    #                   judge C   judge F
    #   rules C             2         2
    #   rules F             0         4
    # p_o = 6/8 = 0.75; p_e = (4/8)(2/8) + (4/8)(6/8) = 0.5; kappa = 0.25 / 0.5 = 0.5
    # Its variance (Fleiss, Cohen & Everitt 1969, as statsmodels computes it), cells p_ij, rows r, cols c:
    #   A = Σ p_ii (1 − (r_i + c_i)(1 − κ))² = .25(1 − .75·.5)² + .5(1 − 1.25·.5)² = .16796875
    #   B = (1 − κ)² Σ_{i≠j} p_ij (c_i + r_j)² = .25 · .25 (.25 + .5)² = .03515625
    #   C = (κ − p_e (1 − κ))² = .0625
    #   var = (A + B − C) / (1 − p_e)² / n = .140625 / .25 / 8 = .0703125, se = .2651650
    #   95% CI = 0.5 ± 1.959964 · .2651650 = [-0.019714, 1.019714], clipped to kappa's range: 1
    assert result.n_judged == 8 and result.agreement == pytest.approx(0.75)
    assert result.kappa == pytest.approx(0.5)
    assert result.kappa_ci == pytest.approx((-0.019714, 1.0), abs=1e-6)
    assert result.table == {c: {c: 2, f: 2}, f: {c: 0, f: 4}}
    db = open_db(run.db_path)
    rows = list(db.query("select * from judgements order by response_key, repeat"))
    assert len(rows) == 24
    assert {(r["seed"], r["temperature"], r["judge"]) for r in rows} == {
        (0, 0.0, "judge:openai-compat/judge")
    }
    assert [json.loads(r["label_order"]) for r in rows[:3]] == [list(o) for o in label_orders(3, 0)]
    unparsed = [r for r in rows if r["label"] is None]
    assert [(r["repeat"], r["raw"], r["error"]) for r in unparsed] == [(0, "It depends.", None)] * 2
    majority_rows = db.query("select label, detail from annotations where annotator like 'judge:%'")
    votes = sorted(json.loads(r["detail"])["votes"].get("unparsed", 0) for r in majority_rows)
    assert votes == [0] * 6 + [1] * 2


def test_cli_reports_consistency_and_sends_the_seed(tmp_path, capsys):
    with FakeOpenAIServer(reply_fn=applicant_reply) as model:
        run = audit(
            write_campaign(tmp_path, prefill="none"), base_url=model.base_url, progress=False, limit=8
        )
    with FakeOpenAIServer(messages_fn=order_sensitive_judge) as judge:
        args = ["judge", "--db", str(run.db_path), "--target", "openai-compat/judge", "--base-url"]
        assert main([*args, judge.base_url, "--repeats", "2", "--seed", "5", "--no-progress"]) == 0
        assert {b["body"]["seed"] for b in judge.received} == {5}
    out = capsys.readouterr().out
    assert "2 repeat(s) per reply at temperature 0, seed 5" in out
    assert "self-consistency:" in out and "Fleiss' kappa" in out and "Cohen's kappa" in out
    assert "classify_refusal (rows)" in out
    orders = {r["label_order"] for r in open_db(run.db_path).query("select label_order from judgements")}
    assert orders == {json.dumps(list(o)) for o in label_orders(2, 5)}
