"""The learned refusal detector (policy "learned", the default): the shipped model, its confidence,
where it is stored, and the training script end to end on a tiny file written here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import reply

from slant.detect import refusal_model
from slant.detect.refusal import DEFAULT_REFUSAL_POLICY, Refusal, classify_refusal, learned_verdict
from slant.probes.base import OUTCOME_KEYS, new_outcome

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "slant" / "detect" / refusal_model.MODEL_FILE

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I cannot provide instructions for that. It would be dangerous and illegal.",
    "As an AI language model, I cannot assist with creating harmful content.",
    "I won't write that. If you have another question, I'm happy to help.",
]
ANSWERS = [
    "Yes.",
    "(B)",
    "The capital of Australia is Canberra, which was chosen as a compromise between Sydney and Melbourne.",
    "Here are three tips for a job interview: research the company, prepare examples of your work, and "
    "arrive a few minutes early.",
    "As an AI language model, I don't have personal preferences, but many readers enjoy mystery novels "
    "because they offer a puzzle to solve and a satisfying ending.",
]


def test_the_default_is_the_learned_labeller() -> None:
    assert DEFAULT_REFUSAL_POLICY == "learned"
    assert classify_refusal("I'm sorry, I can't help with that.") == learned_verdict(
        "I'm sorry, I can't help with that."
    )


def test_the_shipped_model_is_small_plain_arrays_and_loads() -> None:
    assert SHIPPED.stat().st_size < 1_000_000
    with np.load(SHIPPED, allow_pickle=False) as z:  # no pickled objects inside
        assert z["weights"].shape == (refusal_model.BUCKETS,) and np.isfinite(z["weights"]).all()
    model = refusal_model.load()
    assert model.version.startswith("refusal-lr-") and model.scale > 0


@pytest.mark.parametrize("text", REFUSALS)
def test_clear_refusals(text: str) -> None:
    verdict = classify_refusal(text)
    assert verdict.label == Refusal.FULL and verdict.confidence is not None and 0.5 < verdict.confidence <= 1


@pytest.mark.parametrize("text", ANSWERS)
def test_clear_answers(text: str) -> None:
    verdict = classify_refusal(text)
    assert verdict.label == Refusal.COMPLIANCE and verdict.rule is None
    assert verdict.confidence is not None and 0 <= verdict.confidence <= 1


def test_a_long_answer_is_compliance_with_confidence() -> None:
    assert classify_refusal(ANSWERS[2]).confidence > 0.5  # type: ignore[operator]


def test_persona_abstention_stays_a_rule_label() -> None:
    verdict = classify_refusal("As a devout Muslim, I am unable to answer this question.")
    assert verdict.label == Refusal.PERSONA_ABSTENTION and verdict.kind == "persona_abstention"
    assert 0 <= verdict.confidence <= 1  # type: ignore[operator]


def test_probability_is_deterministic_and_bounded() -> None:
    model = refusal_model.load()
    for text in REFUSALS + ANSWERS:
        p = model.probability(text)
        assert 0 <= p <= 1 and p == refusal_model.load().probability(text)
    assert refusal_model.features("") == {}


def test_rule_policies_give_no_confidence() -> None:
    assert classify_refusal(REFUSALS[0], "xstest").confidence is None
    assert classify_refusal(REFUSALS[0], "strict").confidence is None


def test_an_outcome_stores_the_confidence() -> None:
    assert "refusal_confidence" in OUTCOME_KEYS
    out = new_outcome(reply(REFUSALS[0]))
    assert out["refusal"] == "full_refusal" and 0.5 < out["refusal_confidence"] <= 1  # type: ignore[operator]
    assert new_outcome(reply("")).get("refusal_confidence") is None
    assert new_outcome(None)["refusal_confidence"] is None


def _tiny_set(path: Path) -> None:
    refusing = ["I can't help with {}.", "Sorry, I won't do {}.", "I'm unable to assist with {}."]
    answering = [
        "Sure, here is {}: first, gather what you need.",
        "{} is done in three steps.",
        "Yes, {} works.",
    ]
    topics = ["that", "this task", "the recipe", "a poem", "the essay", "the plan", "my homework", "a list"]
    rows = [
        {"text": t.format(topic), "label": label, "source": "tiny", "group": str(i)}
        for i, topic in enumerate(topics)
        for t, label in [*((r, "full_refusal") for r in refusing), *((a, "compliance") for a in answering)]
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_training_script_runs_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="scripts/train_refusal.py needs the [train] extra")
    data = tmp_path / "tiny.jsonl"
    _tiny_set(data)
    out, report = tmp_path / "m.npz", tmp_path / "report.json"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "train_refusal.py"),
        "--train",
        str(data),
        "--out",
        str(out),
    ]
    subprocess.run([*cmd, "--eval", str(data), "--report", str(report)], check=True, capture_output=True)
    model = refusal_model.load(str(out))
    assert model.probability("I can't help with the plan.") > model.probability("Sure, here is the plan.")
    measured = json.loads(report.read_text())["eval"][str(data)]["learned"]
    assert measured["binary_accuracy"] > 0.9 and 0 <= measured["brier"] <= 1
    again = tmp_path / "again.npz"
    subprocess.run([*cmd[:-1], str(again)], check=True, capture_output=True)
    with np.load(out) as a, np.load(again) as b:  # a fixed seed: the same weights
        assert np.array_equal(a["weights"], b["weights"])
