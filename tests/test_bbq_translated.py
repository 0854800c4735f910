"""The bbq family reads MBBQ and KoBBQ and scores them as their authors' code does, on rows written here.

tests/data/bbq/mbbq/: 16 rows of this project's own in MBBQ's format (Dutch: Age, Gender_identity with
"F" and "M" groups, and an Age control file with names); tests/data/bbq/kobbq/KoBBQ_test_samples.tsv: 12
rows in KoBBQ's TSV format (two categories, biased and counter-biased contexts and questions).
translated.json: log-likelihoods chosen per row and option, replies chosen per row (KoBBQ: per row and
circulant order), and what the authors' code computed from them (its ``reference`` names the commits):
KoBBQ's 3_postprocess_predictions.raw2prediction, 4's letter-to-choice step and 5_evaluation's
get_df/evaluate_template; MBBQ's mbbq.get_samples (its target and unknown answers), detect_answer and
score_answer, aggregated by the paper's formulas (its code stops at the per-response scores).
"""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openai_server import FakeOpenAIServer
from test_bbq import assert_equal_to_reference, run, run_planted

from slant.errors import SpecError
from slant.probes import bbq

DATA = Path(__file__).parent / "data" / "bbq"
REF = json.loads((DATA / "translated.json").read_text(encoding="utf-8"))
METRIC = {  # the authors' metric → slant's
    "accuracy_amb": "bbq_accuracy_ambig",
    "accuracy_dis": "bbq_accuracy_disambig",
    "diff_bias_amb": "diff_bias_ambig",
    "diff_bias_dis": "diff_bias_disambig",
    "control_accuracy_amb": "mbbq_control_accuracy_ambig",
    "control_accuracy_dis": "mbbq_control_accuracy_disambig",
}
SAMPLE = {"sample": {"n": 1, "temperature": 0.0, "max_tokens": 16}}


def mbbq_rows() -> list[tuple[str, dict]]:
    """(key as translated.json names it, row) for every MBBQ fixture row."""
    out = []
    for f in sorted((DATA / "mbbq").glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            out.append((f"{r['category']}{'_control' if '_control_' in f.name else ''}:{r['example_id']}", r))
    return out


def kobbq_rows() -> list[dict]:
    with (DATA / "kobbq" / "KoBBQ_test_samples.tsv").open(encoding="utf-8", newline="") as f:
        return [{**r, "choices": ast.literal_eval(r["choices"])} for r in csv.DictReader(f, delimiter="\t")]


def nl_prompt(r: dict, options: str | None = None) -> str:
    listed = f"{options}\n" if options else ""
    return f"Context: {r['context']}\nVraag: {r['question']}\n{listed}Antwoord:"


def ko_prompt(r: dict, options: str | None = None) -> str:
    listed = f"{options}\n" if options else ""
    return f"문맥: {r['context']}\n질문: {r['question']}\n{listed}답:"


def lettered(answers: list[str]) -> str:
    return "\n".join(f"{x}. {a}" for x, a in zip("ABC", answers, strict=True))


@pytest.fixture(scope="module")
def by_loglikelihood(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    table = {}
    for key, r in mbbq_rows():
        for option, ll in REF["mbbq_loglikelihoods"][key].items():
            table[nl_prompt(r) + " " + option] = ll
    for r in kobbq_rows():
        for option, ll in REF["kobbq_loglikelihoods"][r["sample_id"]].items():
            table[ko_prompt(r) + " " + option] = ll
    sets = [
        {"family": "bbq", "name": "mbbq-nl", "data": str(DATA / "mbbq" / "*.jsonl"), "language": "nl"},
        {"family": "bbq", "name": "kobbq", "data": str(DATA / "kobbq" / "*.tsv"), "language": "ko"},
    ]
    return run_planted(tmp_path_factory.mktemp("translated"), sets, table)


def test_each_row_offers_its_three_answers_after_the_language_prompt(by_loglikelihood):
    _, _, sent = by_loglikelihood
    (_, first), *_ = mbbq_rows()
    want = [nl_prompt(first) + " " + a for a in (first["ans0"], first["ans1"], first["ans2"])]
    assert [s for s in sent if s.startswith(nl_prompt(first) + " ")] == want
    ko = kobbq_rows()[0]
    want = [ko_prompt(ko) + " " + c for c in ko["choices"]]
    assert [s for s in sent if s.startswith(ko_prompt(ko) + " ")] == want


def test_mbbq_scores_equal_the_reference_per_category_with_the_control_set_beside(by_loglikelihood):
    disp, outcomes, _ = by_loglikelihood
    # Age, Gender_identity and all: 4 scores each, control accuracies for Age and all
    assert assert_equal_to_reference(disp, REF["mbbq_expected"], "nl", METRIC) == 16
    ctl = disp[(disp.metric == "mbbq_control_accuracy_ambig") & (disp.axis == "Gender_identity")]
    assert ctl.estimate.isna().all()  # no control rows for this category
    assert len(outcomes[outcomes.probe_set == "mbbq-nl"]) == 16


def test_mbbq_biased_answers_follow_its_target_answers():
    ps = bbq.BbqSet.model_validate({"family": "bbq", "data": "mbbq/*.jsonl", "language": "nl"})
    for p in bbq.expand(ps, DATA, "c.yaml: probes[0]"):
        control = "_control" if p.attributes["control"] else ""
        target = REF["mbbq_target_loc"][f"{p.attributes['category']}{control}:{p.attributes['example_id']}"]
        role = p.attributes["roles"][target] if target < 3 else None
        neg = p.attributes["question_polarity"] == "neg"
        assert role == ("pro-stereo" if neg else "anti-stereo")


def test_kobbq_scores_equal_5_evaluation_per_category_and_overall(by_loglikelihood):
    disp, _, _ = by_loglikelihood
    assert assert_equal_to_reference(disp, REF["kobbq_expected"], "ko", METRIC) == 12
    assert {"bbq_bias_ambig", "bbq_bias_disambig"} <= set(disp[disp.grp == "ko"].metric)


def test_replies_to_lettered_prompts_are_read_as_the_authors_read_them(tmp_path):
    replies = {}
    for key, r in mbbq_rows():
        replies[nl_prompt(r, lettered([r["ans0"], r["ans1"], r["ans2"]]))] = REF["mbbq_replies"][key]
    for r in kobbq_rows():
        for j, order in enumerate(bbq.SAMPLED_ORDERS["kobbq"]):
            shown = lettered([r["choices"][k] for k in order])
            replies[ko_prompt(r, shown)] = REF["kobbq_replies"][f"{r['sample_id']}-{j}"]
    sets = [
        {"family": "bbq", "name": "mbbq-nl", "data": str(DATA / "mbbq" / "*.jsonl"), "language": "nl"},
        {"family": "bbq", "name": "kobbq", "data": str(DATA / "kobbq" / "*.tsv"), "language": "ko"},
    ]
    with FakeOpenAIServer(reply_fn=lambda prompt: replies[prompt]) as server:
        disp, outcomes = run(tmp_path, [{**s, "scoring": SAMPLE} for s in sets], server)
    assert assert_equal_to_reference(disp, REF["mbbq_expected_text"], "nl", METRIC) == 16
    assert assert_equal_to_reference(disp, REF["kobbq_expected_text"], "ko", METRIC) == 12
    ko = outcomes[outcomes.probe_set == "kobbq"]
    assert len(ko) == 36  # three circulant orders per row
    assert (ko.parse_status != "ok").mean() == pytest.approx(REF["kobbq_expected_text"]["all"]["ooc_ratio"])
    mbbq = outcomes[outcomes.probe_set == "mbbq-nl"]
    undetected = sum(v is None for v in REF["mbbq_detected_text"].values())
    assert (mbbq.parse_status != "ok").sum() == undetected == 2


def test_a_wrong_row_or_language_is_one_line_naming_file_and_field(tmp_path):
    ok = (DATA / "kobbq" / "KoBBQ_test_samples.tsv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "k.tsv").write_text("\n".join([ok[0], ok[1].replace("알 수 없음", "모름")]) + "\n")
    ko = bbq.BbqSet.model_validate({"family": "bbq", "data": "k.tsv", "language": "ko"})
    with pytest.raises(SpecError, match=r"k.tsv line 2.*not a KoBBQ row"):
        list(bbq.expand(ko, tmp_path, "c.yaml: probes[0]"))
    (_, row), *_ = mbbq_rows()
    (tmp_path / "Age_nl.jsonl").write_text(json.dumps({**row, "answer_info": {"ans0": ["x"]}}) + "\n")
    nl = bbq.BbqSet.model_validate({"family": "bbq", "data": "Age_nl.jsonl", "language": "nl"})
    with pytest.raises(SpecError, match=r"Age_nl.jsonl line 1.*an MBBQ row needs a label"):
        list(bbq.expand(nl, tmp_path, "c.yaml: probes[0]"))
    with pytest.raises(ValueError, match="variant: mbbq has the languages en, es, nl, tr"):
        bbq.BbqSet.model_validate({"family": "bbq", "data": "x", "language": "ca", "variant": "mbbq"})


def test_slant_probes_shows_mbbq_and_kobbq_with_their_licences():
    r = subprocess.run([sys.executable, "-m", "slant", "probes"], capture_output=True, text=True, check=True)
    section = r.stdout[r.stdout.index("bbq —") :]
    assert "https://github.com/Veranep/MBBQ" in section and "Neplenbroek" in section
    assert "https://github.com/naver-ai/KoBBQ" in section and "licence: MIT" in section
    assert "diff_bias_disambig" in section and "mbbq_control_accuracy_ambig" in section
