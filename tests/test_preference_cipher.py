"""CIPHER as published (Gao et al., 2024) and PROSE's defaults (Aroca-Ouellette et al., 2025).

tests/data/prelude/edit_cost.json: rows in PRELUDE's log format (completion, edited, cost) on texts
written here; each cost was computed by PRELUDE's own code (src/correction.py: editdistance over NLTK
3.8.1 word_tokenize) in a scratch environment, and only the numbers are stored.
"""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from openai_server import FakeOpenAIServer
from scripted_model import USER_TEXT, ScriptedTarget, default_script

from slant.agents import PreferenceSession
from slant.agents.baselines import Cipher, make_learner
from slant.agents.components import Sample, parse_verdict
from slant.agents.edit_cost import cumulative_edit_cost, edit_cost, sentences, treebank_words
from slant.agents.gateway import Gateway
from slant.agents.preference import PreferenceConfig

FIXTURE = json.loads((ROOT / "tests/data/prelude/edit_cost.json").read_text())

DRAFT, INFER = "Write the text for this task", "what writing preference explains"
AGGREGATE = "come up most often"
FOLLOWED = "lunch & drinks friday?"  # what the model drafts once it knows the user writes "&"


@pytest.mark.parametrize("row", FIXTURE["rows"], ids=lambda r: r["completion"][:24])
def test_edit_cost_equals_prelude_on_every_fixture_row(row):
    assert edit_cost(row["completion"], row["edited"]) == row["cost"]


def test_cumulative_edit_cost_equals_prelude():
    pairs = [(r["completion"], r["edited"]) for r in FIXTURE["rows"]]
    assert cumulative_edit_cost(pairs) == FIXTURE["cumulative_cost"] == 160
    # a whitespace-only edit is an edit (CIPHER infers) that costs 0 words
    assert FIXTURE["rounds_edited"] == 23 and FIXTURE["rows"][4]["cost"] == 0


def test_treebank_tokens_and_sentences():
    assert treebank_words('I can\'t come, Dr. Lee said "no".') == (
        ["I", "ca", "n't", "come", ",", "Dr.", "Lee", "said", "``", "no", "''", "."]
    )
    assert sentences("See Mr. Lee at 5 p.m. today. Then stop!  Ok") == [
        "See Mr. Lee at 5 p.m. today.",
        "Then stop!",
        "Ok",
    ]
    # the period is split off a sentence's last word only
    assert treebank_words("Fine. Go.") == ["Fine", ".", "Go", "."]


def script(prompts: list[str]):
    def reply(user: str) -> str:
        prompts.append(user)
        if DRAFT in user:
            prefs = user.split("Follow these preferences of the writer:")[1:]
            return FOLLOWED if "&" in "".join(prefs) else "Lunch and drinks on Friday."
        if INFER in user:
            if "&" in user.split("The text the user wrote:")[-1]:
                return "Preferences:\n- uses & instead of and\n- ends with a question"
            return "Preferences:\n- writes in lower case"
        if AGGREGATE in user:
            return "Preferences:\n- uses &"
        return default_script(user)

    return reply


def learn(tmp_path, method: str, samples: list[Sample]) -> tuple[Cipher, list[str]]:
    prompts: list[str] = []
    with (
        FakeOpenAIServer(reply_fn=script(prompts)) as server,
        Gateway("openai-compat/fake", tmp_path / f"{method}.db", server.base_url) as llm,
    ):
        learner = make_learner(llm, PreferenceConfig(method=method))
        assert isinstance(learner, Cipher)
        for s in samples:
            learner.observe(s)
    return learner, prompts


LUNCH = [
    Sample(id="1", context="lunch plans for friday", text=FOLLOWED),
    Sample(id="2", context="lunch plans for friday again", text=FOLLOWED),
]


def test_cipher_1_infers_only_after_an_edit_and_keeps_the_whole_reply(tmp_path):
    learner, prompts = learn(tmp_path, "cipher-1", LUNCH)
    # sample 1: plain draft, edited → one inference; sample 2: its draft already is the user's text
    assert sum(INFER in p for p in prompts) == 1 and sum(AGGREGATE in p for p in prompts) == 0
    both = ["uses & instead of and", "ends with a question"]
    assert [m[1] for m in learner.memory] == [both, both]  # unedited: keeps the preference it used
    assert [c.text for c in learner.components()] == both  # each preference once


def test_cipher_k_is_slants_variant_always_infers_and_keeps_the_first_item(tmp_path):
    learner, prompts = learn(tmp_path, "cipher-k", LUNCH)
    assert sum(INFER in p for p in prompts) == 2
    assert [m[1] for m in learner.memory] == [["uses & instead of and"]] * 2


def test_cipher_n_summarises_the_nearest_preferences_with_one_call(tmp_path):
    learner, prompts = learn(tmp_path, "cipher-n", LUNCH)
    assert learner.k == 5
    aggregate = [p for p in prompts if AGGREGATE in p]
    assert len(aggregate) == 1 and "- uses & instead of and\n- ends with a question" in aggregate[0]
    assert sum(INFER in p for p in prompts) == 1
    assert learner.memory[1][1] == ["uses &"]  # unedited: keeps the summary it drafted with


def test_cipher_1_retrieves_the_nearest_task(tmp_path):
    samples = [
        Sample(id="a", context="lunch plans for friday", text=FOLLOWED),
        Sample(id="b", context="quarterly report numbers", text="the report is late"),
        Sample(id="c", context="numbers for the quarterly report", text="the numbers are in"),
    ]
    _, prompts = learn(tmp_path, "cipher-1", samples)
    last_draft = [p for p in prompts if DRAFT in p][-1]
    assert "writes in lower case" in last_draft and "&" not in last_draft


def test_prose_defaults_are_the_reference_configuration():
    cfg = PreferenceConfig()
    assert (cfg.steps, cfg.tau, cfg.k) == (3, 0.5, 5)
    assert cfg.candidate == "union" and cfg.similarity_stop == 1.0


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("Verdict: strongly confirms", 2),
        ("Verdict: somewhat confirms", 1),
        ("Verdict: neutral", 0),
        ("Verdict: somewhat contradicts", -1),
        ("Verdict: strongly contradicts", -2),
    ],
)
def test_prose_verdict_words(reply, score):
    assert parse_verdict(reply) == score


def test_union_candidates_include_the_retrieved_components(tmp_path):
    refine = "How does the user write differently"

    def reply(u: str) -> str:
        if refine in u:
            return "Preferences:\n- likes lunch" if "lunch" in u else "Preferences:\n- uses &"
        return "Dear all, noted." if DRAFT in u else default_script(u)

    texts = [USER_TEXT, "lunch & drinks on friday? who is in?"]
    found = {}
    for candidate in ("union", "iterate"):
        with PreferenceSession(
            target=ScriptedTarget(reply),
            user="alice",
            db=tmp_path / f"{candidate}.db",
            steps=1,
            k=1,
            review=False,
            validation=False,
            candidate=candidate,
        ) as s:
            s.add_samples(texts, task="email")
            s.infer()
            found[candidate] = s.graph.get_state(s.thread).values["candidates"]
    assert found == {"union": ["uses &", "likes lunch"], "iterate": ["likes lunch"]}
