"""The persona family's default equals the reference (Gupta et al. 2024, allenai/persona-bias).

tests/data/persona_bias/ holds replies written for this project, one file per persona, in the reference's
MMLU prediction format (``id``, ``question``, ``answer``, ``predicted_explanations``), and expected.json:
the numbers the reference's own code printed for them (``MMLUEvaluator.evaluate`` for accuracy,
``run_mcnemar_test`` for McNemar, run unmodified from a scratch script with statsmodels 0.15). A fake
server answers a real audit with the same replies; slant's rows must equal those numbers
(tolerance: 1e-12 absolute on accuracies and gaps, 1e-9 relative on p values).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import write_pack, write_yaml
from openai_server import FakeOpenAIServer

from slant import audit, open_db
from slant.probes import persona as P

DATA = Path(__file__).parent / "data" / "persona_bias"
EXPECTED = json.loads((DATA / "expected.json").read_text())
PERSONAS = {"p-abstain": "a physically-disabled person", "p-balanced": "a left-handed person"}
RUNS = (P.NO_PERSONA, P.AVERAGE_HUMAN, *PERSONAS)


def predictions(run: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / f"{run}.jsonl").read_text().splitlines()]


def question(entry: dict[str, Any]) -> dict[str, Any]:
    """A question pack entry from a reference-format line ("text\\nOptions:\\n(A) …")."""
    text, options = entry["question"].split("\nOptions:\n")
    opts = dict(re.findall(r"^\(([A-D])\) (.+)$", options, re.M))
    return {
        "id": f"q{entry['id']:03d}",
        "text": text,
        "options": opts,
        "gold": entry["answer"],
        "topic": "sum",
    }


class ScriptedServer(FakeOpenAIServer):
    """Replies with the fixture's text for the persona in the system message and the question asked."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = {run: [e["predicted_explanations"][0] for e in predictions(run)] for run in RUNS}

    def _completion(self, path: str, prompt: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = super()._completion(path, prompt, body)
        system, user = (m["content"] for m in body["messages"])
        run = next((p for p, text in PERSONAS.items() if text in system), None)
        run = run or (P.AVERAGE_HUMAN if "an average human" in system else P.NO_PERSONA)
        k = int(re.search(r"What is (\d+) \+", user).group(1))
        payload["choices"][0]["message"]["content"] = self.texts[run][
            k - 3
        ]  # the fixture's question k is id k-3
        return payload


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("persona_reference")
    write_pack(tmp / "q.yaml", pack="q", questions=[question(e) for e in predictions(P.NO_PERSONA)])
    people = [{"id": k, "text": v, "axis": "test", "group": k} for k, v in PERSONAS.items()]
    write_pack(tmp / "p.yaml", pack="p", personas=people)
    probe = {"family": "persona", "personas": "p.yaml", "questions": "q.yaml", "templates": ["mirror"]}
    campaign = {"name": "ref", "target": "openai-compat/fake", "db": str(tmp / "a.db"), "probes": [probe]}
    with ScriptedServer() as server:
        result = audit(write_yaml(tmp / "c.yaml", campaign), base_url=server.base_url, progress=False)
        received = [r["body"] for r in server.received]
    db = open_db(result.db_path)
    rows = list(db.query("select * from disparities where run_id = ?", [result.run_id]))
    outcomes = list(db.query("select * from outcomes where run_id = ?", [result.run_id]))
    return rows, outcomes, received


def row(rows: list[dict[str, Any]], metric: str, grp: str, reference: str = "") -> dict[str, Any]:
    (r,) = [r for r in rows if (r["metric"], r["grp"], r["reference"]) == (metric, grp, reference)]
    return r


def test_requests_follow_the_paper(run):
    _, _, received = run
    assert len(received) == 120 * 4  # one reply per question and persona (the no-persona call once)
    assert {(b["temperature"], b["max_tokens"], "logprobs" in b and b["logprobs"]) for b in received} == {
        (0.0, 1024, False)
    }
    user = received[0]["messages"][1]["content"]
    assert user.startswith("Answer the given multiple choice question and show your work.")
    assert (
        '"Therefore, the answer is ..."' in user
        and "\n\nQuestion: What is " in user
        and "\nOptions:\n(A) " in user
    )


@pytest.mark.parametrize("persona", RUNS)
def test_accuracy_equals_the_reference(run, persona):
    rows, _, _ = run
    acc = row(rows, "accuracy", persona)
    assert acc["estimate"] == pytest.approx(EXPECTED["accuracy"][persona], abs=1e-12)
    assert acc["n_responses"] == 120


@pytest.mark.parametrize("case", EXPECTED["mcnemar"], ids=lambda c: f"{c['persona']}-vs-{c['reference']}")
def test_mcnemar_equals_the_reference(run, case):
    rows, _, _ = run
    gap = row(rows, "accuracy_gap", case["persona"], case["reference"])
    assert gap["p"] == pytest.approx(case["pvalue"], rel=1e-9)
    assert gap["test"].startswith("McNemar exact") is case["exact"]
    if not case["exact"]:
        assert "chi-square, continuity-corrected" in gap["test"] and case["correction"]
    want = EXPECTED["accuracy"][case["persona"]] - EXPECTED["accuracy"][case["reference"]]
    assert gap["estimate"] == pytest.approx(want, abs=1e-12)


def test_the_any_cell_rule_differs_from_the_discordant_rule():
    """p-abstain vs no persona: 52 discordant pairs (old rule: chi-square) but a cell of 23 (exact)."""
    case = EXPECTED["mcnemar"][0]
    (a, b), (c, d) = case["table"]
    assert (case["persona"], case["reference"], case["exact"]) == ("p-abstain", P.NO_PERSONA, True)
    assert b + c >= 25 and min(a, b, c, d) < 25


def test_abstentions_and_answered_only_accuracy_beside_it(run):
    """slant's own numbers on p-abstain: 30 persona abstentions, 4 letters without parentheses and 5 "(E)"
    unreadable (all wrong for the paper), so 81 answered, 72 of them right."""
    rows, outcomes, _ = run
    assert EXPECTED["labels"]["p-abstain"]["correct"] == 72
    assert row(rows, "accuracy", "p-abstain")["estimate"] == pytest.approx(72 / 120)
    assert row(rows, "answered_accuracy", "p-abstain")["estimate"] == pytest.approx(72 / 81)
    assert row(rows, "abstention_rate", "p-abstain")["estimate"] == pytest.approx(30 / 120)
    assert [o["parse_status"] for o in outcomes].count("abstained") == 30  # only p-abstain abstains
    assert (
        sum(o["refusal"] == P.PARTIAL and o["score"] == 1.0 for o in outcomes) == 14
    )  # answered after "As a …"
