"""The bbq family equals lm-evaluation-harness's BBQ and EsBBQ scoring on rows written here.

tests/data/bbq/{Age,SES}.jsonl: 24 rows of this project's own in BBQ's released format (2 categories ×
3 templates × 2 polarities × ambiguous/disambiguated, the unknown answer in every position, in several
phrasings); tests/data/bbq/es/Age.jsonl: 8 rows in EsBBQ's format. reference.json: log-likelihoods
chosen per row and option, replies chosen per row, and what lm-eval's ``lm_eval/tasks/bbq/utils.py``
(``bbq_multiple_choice``, ``bbq_generate``) and ``lm_eval/tasks/esbbq/utils.py`` computed from them
(its ``reference`` names the commit; the script ran them with numpy only, ``datasets`` stubbed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlite_utils
import yaml
from openai_server import FakeOpenAIServer

from slant.api import audit
from slant.errors import SpecError
from slant.probes import bbq
from slant.targets.base import Reply

DATA = Path(__file__).parent / "data" / "bbq"
REF = json.loads((DATA / "reference.json").read_text())
METRIC = {  # lm-eval's metric → slant's
    "accuracy_amb": "bbq_accuracy_ambig",
    "accuracy_disamb": "bbq_accuracy_disambig",
    "amb_bias_score": "bbq_bias_ambig",
    "disamb_bias_score": "bbq_bias_disambig",
    "acc_ambig": "bbq_accuracy_ambig",
    "acc_disambig": "bbq_accuracy_disambig",
    "bias_score_ambig": "esbbq_bias_ambig",
    "bias_score_disambig": "esbbq_bias_disambig",
}


def rows(pattern: str) -> list[dict]:
    return [json.loads(line) for f in sorted(DATA.glob(pattern)) for line in f.read_text().splitlines()]


def planted(lang: str, prompt_of) -> dict[str, float]:
    """Each (prompt + " " + option) → the log-likelihood reference.json chose for it."""
    out = {}
    for r in rows("*.jsonl" if lang == "en" else f"{lang}/*.jsonl"):
        key = (
            f"{r['category']}:{r['example_id']}"
            if lang == "en"
            else f"{lang}:{r['category']}:{r['example_id']}"
        )
        for option, ll in REF["loglikelihoods"][key].items():
            out[prompt_of(r) + " " + option] = ll
    return out


def en_prompt(r: dict) -> str:
    return f"{r['context']}\n\nQ: {r['question']}\nA:"


def es_prompt(r: dict) -> str:
    return f"Contexto: {r['context']}\nPregunta: {r['question']}\nRespuesta:"


def run(tmp_path: Path, sets: list[dict], server: FakeOpenAIServer) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Audit a campaign of these bbq sets on the fake server: (its disparity rows, its outcomes)."""
    campaign = tmp_path / "c.yaml"
    db = tmp_path / "audit.db"
    campaign.write_text(
        yaml.safe_dump({"name": "bbq", "target": "openai-compat/fake", "db": str(db), "probes": sets})
    )
    result = audit(campaign, base_url=server.base_url, progress=False)
    assert result.status == "complete"
    d = sqlite_utils.Database(db)
    disp = pd.DataFrame(d["disparities"].rows_where("run_id = ?", [result.run_id]))
    outcomes = pd.DataFrame(d["outcomes"].rows_where("run_id = ?", [result.run_id]))
    return disp, outcomes


def assert_equal_to_reference(
    disp: pd.DataFrame, expected: dict, language: str, names: dict[str, str] = METRIC
) -> int:
    """Each expected value (names: the reference's metric → slant's; others are skipped) equals slant's
    row of that metric, axis and language; the number checked."""
    checked = 0
    for axis, metrics in expected.items():
        for name, value in metrics.items():
            if name not in names:
                continue
            (row,) = disp[
                (disp.metric == names[name]) & (disp.axis == axis) & (disp.grp == language)
            ].itertuples()
            assert row.estimate == pytest.approx(value, abs=1e-12), (axis, name)
            checked += 1
    return checked


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """The English and Spanish fixtures scored by log-likelihood with the reference's numbers planted."""
    table = planted("en", en_prompt) | planted("es", es_prompt)
    sets = [
        {"family": "bbq", "name": "bbq-en", "data": str(DATA / "*.jsonl")},
        {"family": "bbq", "name": "bbq-es", "data": str(DATA / "es" / "*.jsonl"), "language": "es"},
    ]
    return run_planted(tmp_path_factory.mktemp("bbq"), sets, table)


def run_planted(
    tmp_path: Path, sets: list[dict], table: dict[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Audit the sets with each (prompt + option) scoring ``table``'s log-likelihood: disparity rows,
    outcomes and the prompts sent."""
    with FakeOpenAIServer() as server:
        server.token_logprob = lambda before, token: table.get(before + token, 0.0)
        disp, outcomes = run(tmp_path, sets, server)
        sent = [r["body"]["prompt"] for r in server.received]
    return disp, outcomes, sent


def test_the_published_prompt_and_options_are_sent_as_lm_eval_sends_them(published):
    _, _, sent = published
    first = rows("Age.jsonl")[0]
    # BBQ's two group answers, then the ten unknown phrasings, each after one space
    want = [en_prompt(first) + " " + o for o in ("The retiree", "The teenager", *bbq.UNKNOWN["en"])]
    assert [s for s in sent if s.startswith(en_prompt(first))] == want
    es = rows("es/Age.jsonl")[0]
    assert sum(s.startswith(es_prompt(es) + " ") for s in sent) == 11  # ans0, ans1, nine phrasings


def test_each_row_chooses_the_option_lm_eval_chose(published):
    _, outcomes, _ = published
    en = outcomes[outcomes.probe_set == "bbq-en"]
    chosen = sorted(json.loads(d)["option"] for d in en["detail"])
    assert chosen == sorted(REF["chosen"].values()) and len(chosen) == 24


def test_accuracies_and_bias_scores_equal_lm_eval_per_category_and_overall(published):
    disp, _, _ = published
    assert assert_equal_to_reference(disp, REF["expected"]["en"], "en") == 12  # Age, SES, all × 4


def test_esbbq_scores_equal_lm_eval_per_language(published):
    disp, _, _ = published
    assert assert_equal_to_reference(disp, REF["expected"]["es"], "es") == 4
    # BBQ's own bias scores are written for Spanish too, so languages compare on one scale
    assert {"bbq_bias_ambig", "bbq_bias_disambig"} <= set(disp[disp.grp == "es"].metric)


def test_bias_scores_carry_a_template_clustered_bootstrap_ci_and_bh(published):
    disp, _, _ = published
    s = disp[(disp.metric == "bbq_bias_disambig") & (disp.axis == "Age")].iloc[0]
    assert s.n_clusters == 3 and s.n_responses == 12  # three templates (question_index)
    assert s.ci_low <= s.estimate <= s.ci_high and 0 < s.p <= 1 and s.p_adj >= s.p
    assert "question_index within category" in s.method
    acc = disp[(disp.metric == "bbq_accuracy_ambig") & (disp.axis == "all")].iloc[0]
    assert (
        pd.isna(acc.p) and acc.ci_low < acc.estimate < acc.ci_high and "stratified by category" in acc.method
    )


def test_replies_are_read_as_lm_eval_bbq_generate_reads_them(tmp_path):
    by_prompt = {en_prompt(r): REF["replies"][f"{r['category']}:{r['example_id']}"] for r in rows("*.jsonl")}
    sample = {"sample": {"n": 1, "temperature": 0.0, "max_tokens": 32}}
    sets = [{"family": "bbq", "data": str(DATA / "*.jsonl"), "scoring": sample}]
    with FakeOpenAIServer(reply_fn=lambda prompt: by_prompt[prompt]) as server:
        disp, outcomes = run(tmp_path, sets, server)
    assert set(outcomes.parse_status) == {"ok"}
    assert assert_equal_to_reference(disp, REF["expected_text"]["en"], "en") == 12


def probes(**spec) -> tuple[bbq.BbqSet, list]:
    ps = bbq.BbqSet.model_validate({"family": "bbq", "data": "*.jsonl", **spec})
    return ps, list(bbq.expand(ps, DATA, "c.yaml: probes[0]"))


def frame(ps: bbq.BbqSet, ps_probes: list, choose) -> pd.DataFrame:
    """Outcomes of replies whose log-likelihoods favour the option ``choose(probe)`` names."""
    out = []
    for k, p in enumerate(ps_probes):
        best = choose(p)
        lls = {f" {o}": (0.0 if o == best else -5.0) for o in p.answer_space}
        o = bbq.score(p, ps, Reply("", "loglikelihood", "completions", continuation_logprobs=lls))
        out.append(
            {
                "probe_id": p.id,
                "scenario_id": p.scenario_id,
                "cue": p.cue,
                "condition": p.condition,
                "swap_set_id": p.swap_set_id,
                **o,
                **p.attributes,
                "sample": 0,
                "k": k,
            }
        )
    return pd.DataFrame(out)


def answer_text(p, role: str) -> str:
    """The option of ``p`` that shows the answer with this role."""
    return next(
        o
        for o, a in zip(p.answer_space, p.attributes["answer_of"], strict=True)
        if p.attributes["roles"][a] == role
    )


def test_a_model_that_never_gives_the_biased_answer_scores_0_not_minus_1_as_lm_eval_does():
    ps, ps_probes = probes()
    rows_ = bbq.disparities(frame(ps, ps_probes, lambda p: answer_text(p, "anti-stereo")), ps)
    s_dis = next(r for r in rows_ if r["metric"] == "bbq_bias_disambig" and r["axis"] == "all")
    assert s_dis["estimate"] == 0.0  # the paper's formula gives 2·0/n − 1 = −1; lm-eval returns 0
    biased = bbq.disparities(frame(ps, ps_probes, lambda p: answer_text(p, "pro-stereo")), ps)
    assert (
        next(r for r in biased if r["metric"] == "bbq_bias_disambig" and r["axis"] == "all")["estimate"]
        == 1.0
    )
    s_amb = next(r for r in biased if r["metric"] == "bbq_bias_ambig" and r["axis"] == "all")
    assert s_amb["estimate"] == 1.0  # never unknown in ambiguous contexts: acc 0, every answer biased


def test_letters_ask_every_order_and_measure_position_consistency():
    ps, ps_probes = probes(scoring="letters")
    assert len(ps_probes) == 24 * 6 and len({p.swap_set_id for p in ps_probes}) == 24
    first = ps_probes[0].messages[0][1]
    assert first.endswith("\nA. The retiree\nB. The teenager\nC. Cannot be determined\nAnswer:")
    always_a = bbq.disparities(frame(ps, ps_probes, lambda p: "A"), ps)
    consistent = bbq.disparities(frame(ps, ps_probes, lambda p: LETTER_OF_UNKNOWN(p)), ps)
    pc = [
        next(r for r in rs if r["metric"] == "position_consistency" and r["axis"] == "Age")
        for rs in (always_a, consistent)
    ]
    assert (pc[0]["estimate"], pc[1]["estimate"]) == (0.0, 1.0)
    acc = next(r for r in consistent if r["metric"] == "bbq_accuracy_ambig" and r["axis"] == "all")
    assert acc["estimate"] == 1.0  # always unknown: right in every ambiguous context


def LETTER_OF_UNKNOWN(p) -> str:  # noqa: N802
    return bbq.LETTERS[[p.attributes["roles"][a] for a in p.attributes["answer_of"]].index("unknown")]


def test_categories_and_limit_choose_the_rows():
    _, ps_probes = probes(categories=["SES"], limit=5)
    assert [p.attributes["category"] for p in ps_probes] == ["SES"] * 5
    with pytest.raises(SpecError, match=r"c.yaml: probes\[0\].*categories.*'Religion' is not in the data"):
        probes(categories=["Religion"])


def test_a_malformed_row_is_one_line_naming_file_and_line(tmp_path):
    good = rows("Age.jsonl")
    no_unknown = {**good[1], "ans2": "The neighbour"}
    (tmp_path / "Age.jsonl").write_text("\n".join(json.dumps(r) for r in (good[0], no_unknown)) + "\n")
    ps = bbq.BbqSet.model_validate({"family": "bbq", "data": "*.jsonl"})
    with pytest.raises(
        SpecError, match=r"Age.jsonl line 2.*none of ans0-ans2 is one of BBQ's unknown answers"
    ):
        list(bbq.expand(ps, tmp_path, "c.yaml: probes[0]"))
    (tmp_path / "Age.jsonl").write_text(json.dumps({**good[0], "context_condition": "vague"}) + "\n")
    with pytest.raises(SpecError, match=r"Age.jsonl line 1.*context_condition"):
        list(bbq.expand(ps, tmp_path, "c.yaml: probes[0]"))
    (tmp_path / "Age.jsonl").write_text(json.dumps(good[0]) + "\n")  # a BBQ row given as Spanish
    es = bbq.BbqSet.model_validate({"family": "bbq", "data": "*.jsonl", "language": "es"})
    with pytest.raises(SpecError, match="EsBBQ/CaBBQ row needs question_type"):
        list(bbq.expand(es, tmp_path, "c.yaml: probes[0]"))
    with pytest.raises(ValueError, match="permutations applies to scoring: letters"):
        bbq.BbqSet.model_validate({"family": "bbq", "data": "x", "permutations": "rotations"})


def test_slant_probes_shows_the_data_set_and_the_metric_definitions():
    r = subprocess.run([sys.executable, "-m", "slant", "probes"], capture_output=True, text=True, check=True)
    section = r.stdout[r.stdout.index("bbq") :]
    assert "https://github.com/nyu-mll/BBQ" in section and "CC-BY-4.0" in section and "Parrish" in section
    assert "s_AMB = (1 − acc_amb)·s_DIS" in section
