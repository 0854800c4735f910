"""The offline preference benchmark's rules and metrics (hand-computed cases)."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks" / "preference"))
import plume  # noqa: E402


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        ("ampersand", "tea & cake", "tea and cake"),
        ("ampersand", "tea & cake", "tea & cake and more"),
        ("caps", "this is IMPORTANT", "this is important"),
        ("bullets", "Hi,\n- one\n- two", "Hi,\n- one only"),
        ("no_sign_off", "Hi,\nsee you", "Hi,\nsee you\nBest regards,\nSam"),
        ("short", " ".join(["w"] * 35), " ".join(["w"] * 36)),
        ("question", "Can you?", "Can you? Yes."),
        ("british", "the colour of the centre", "the color of the centre"),
    ],
)
def test_rule_checkers(rule, good, bad):
    assert plume.RULES[rule].check(good) and not plume.RULES[rule].check(bad)


def test_rules_apply_what_they_check():
    text = "Hello,\nThe color and the center are ready. Please organize it today.\nThanks,\nSam"
    assert plume.demonstrate(text, ("british", "ampersand", "no_sign_off")) == (
        "Hello,\nThe colour & the centre are ready. Please organise it today."
    )
    assert plume.demonstrate(text, ("bullets", "question")).splitlines()[1:3] == [
        "- The color and the center are ready.",
        "- Please organize it today.",
    ]
    for user, rules in plume.USERS.items():  # every demonstration follows all of its user's rules
        assert 3 <= len(rules) <= 4
        assert [plume.ppcm(text, rules) for _, text in plume.demos(user)] == [1.0] * 5, user


def test_ppcm_edit_and_component_matching():
    rules = ("ampersand", "question", "caps")
    assert plume.ppcm("tea & cake?", rules) == pytest.approx(2 / 3)
    assert plume.edit("a b c d", "a b x d") == pytest.approx(1 / 4)
    found = ["Uses an ampersand", "ends every message with a question", "likes cats"]
    precision, recall = plume.precision_recall(found, rules)
    assert precision == pytest.approx(2 / 3) and recall == pytest.approx(2 / 3)
    assert plume.precision_recall([], rules) == (None, 0.0)


def test_the_benchmark_runs_every_method_and_ends_with_a_result_line(tmp_path, capsys):
    import importlib.util

    from openai_server import FakeOpenAIServer
    from scripted_model import default_script

    spec = importlib.util.spec_from_file_location("preference_run", ROOT / "benchmarks/preference/run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with FakeOpenAIServer(reply_fn=default_script) as server:
        args = [
            "--target",
            "openai-compat/fake",
            "--base-url",
            server.base_url,
            "--users",
            "1",
            "--demos",
            "2",
        ]
        assert bench.main([*args, "--db", str(tmp_path / "b.db")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    values = dict(kv.split("=") for kv in last.split()[2:])
    assert last.startswith("RESULT preference ") and len(values) == 3 * len(bench.METHODS)
    # the scripted model writes "&" only when told to: the oracle follows more of ada's rules than no-learning
    assert float(values["ppcm_oracle"]) > float(values["ppcm_no-learning"])
