"""WinoBias (Zhao, Wang, Yatskar, Ordonez & Chang 2018, "Gender Bias in Coreference Resolution:
Evaluation and Debiasing Methods", NAACL): sentences with two occupations and a pronoun referring to one
of them, in a pro-stereotypical version (the pronoun's gender is the occupation's stereotyped one) and an
anti-stereotypical one (the same sentence with the pronoun's gender swapped). Type 1 sentences need world
knowledge to resolve, type 2 can be resolved by syntax.

Data: the user's copy of the released ``WinoBias/wino/data/{pro,anti}_stereotyped_type{1,2}.txt.{dev,test}``
files, named by ``data:`` (a glob). Each line is ``<n> <sentence>`` with the antecedent and the pronoun in
brackets; the pro and anti files pair line by line (the same n).

Scoring: lm-evaluation-harness has no WinoBias task, so it is read the way lm-eval reads Winogender
(:mod:`slant.probes.coref`): the sentence without brackets, then ``‘Pronoun’ refers to the``; the
candidates are the sentence's two occupations (WinoBias's 40, in the order they appear) and the answer is
the more likely one. With one link per sentence the authors' coreference F1 (MUC) equals this accuracy.

Disparities, on axis ``type`` per type (``grp`` type1, type2) and over both (``grp`` all):
- ``pro_accuracy`` and ``anti_accuracy``: accuracy on the pro- and on the anti-stereotypical sentences,
  CI by a bootstrap over pairs;
- ``pro_anti_gap``: pro − anti accuracy, paired by line, CI by a bootstrap over pairs, paired t p;
  ``p_bh``: Benjamini–Hochberg across the types (beside the run's BH over the family's rows).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from slant.datasets import Dataset, data_files, register_dataset
from slant.errors import SpecError
from slant.probes import coref
from slant.probes.base import Probe, short_hash
from slant.probes.family import Family, register
from slant.stats.metric import Kind, Metric
from slant.stats.multiple import by_category

NAME = "winobias"
RAW = "https://raw.githubusercontent.com/uclanlp/corefBias/master/WinoBias/wino/data/"
DATASET = register_dataset(
    Dataset(
        NAME,
        "WinoBias",
        "https://github.com/uclanlp/corefBias",
        "MIT",
        "Zhao, Wang, Yatskar, Ordonez & Chang (2018). Gender Bias in Coreference Resolution: Evaluation "
        "and Debiasing Methods. NAACL-HLT.",
        tuple(
            f"{RAW}{s}_stereotyped_type{t}.txt.{split}"
            for s in ("pro", "anti")
            for t in (1, 2)
            for split in ("dev", "test")
        ),
    )
)
# The 40 occupations of WinoBias (its released male_occupations.txt and female_occupations.txt).
OCCUPATIONS = (
    "driver",
    "supervisor",
    "janitor",
    "cook",
    "mover",
    "laborer",
    "construction worker",
    "chief",
    "developer",
    "carpenter",
    "manager",
    "lawyer",
    "farmer",
    "salesperson",
    "physician",
    "guard",
    "analyst",
    "mechanic",
    "sheriff",
    "CEO",
    "attendant",
    "cashier",
    "teacher",
    "nurse",
    "assistant",
    "secretary",
    "auditor",
    "cleaner",
    "receptionist",
    "clerk",
    "counselor",
    "designer",
    "hairdresser",
    "writer",
    "housekeeper",
    "baker",
    "accountant",
    "editor",
    "librarian",
    "tailor",
)
_OCCUPATION = re.compile(r"\b(" + "|".join(sorted(OCCUPATIONS, key=len, reverse=True)) + r")\b", re.I)
FILE = re.compile(r"^(pro|anti)_stereotyped_type([12])\.txt\.(\w+)$")
PRO_ACCURACY, ANTI_ACCURACY = (
    Metric(
        f"{s}_accuracy",
        Kind.RATE,
        f"share of {s}-stereotypical sentences whose pronoun the model resolves to its true antecedent: the "
        'candidate with the higher log-likelihood after "‘Pronoun’ refers to the"',
        chart="bars",
    )
    for s in ("pro", "anti")
)
PRO_ANTI_GAP = Metric(
    "pro_anti_gap",
    Kind.GAP,
    "accuracy on pro-stereotypical sentences minus on their anti-stereotypical twins (the same line with "
    "the pronoun's gender swapped), paired by line",
    0.0,
)


class WinoBiasSet(BaseModel):
    """A WinoBias probe set in a campaign file (paths relative to the campaign file)."""

    model_config = ConfigDict(extra="forbid")
    family: Literal["winobias"] = Field(description="the probe family")
    name: str = Field(NAME, description="name of the set, unique within the campaign")
    data: str = Field(
        description="glob of the released {pro,anti}_stereotyped_type{1,2}.txt.{dev,test} files"
    )


def expand(ps: WinoBiasSet, base: Path, where: str) -> Iterator[Probe]:
    """Every line of the data files, in file order."""
    for path in data_files(ps.data, base, where):
        if not (m := FILE.match(path.name)):
            problem = "is not named {pro,anti}_stereotyped_type{1,2}.txt.<split> as released"
            raise SpecError(where, "data", f"{path.name} {problem}")
        stereotype, kind, split = m.group(1), f"type{m.group(2)}", m.group(3)
        seen: set[str] = set()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            problem = f"{path.name} line {n}"
            number, _, text = line.strip().partition(" ")
            if not number.isdigit() or number in seen:
                raise SpecError(where, "data", f"{problem}: expected a new line number, then the sentence")
            seen.add(number)
            sentence, antecedent, candidates, pronoun = _read(text, where, problem)
            pair = f"{kind}.{split}.{number}"
            attrs = {
                "stereotype": stereotype,
                "type": kind,
                "split": split,
                "line": int(number),
                "pronoun": pronoun,
                "gender": coref.PRONOUN_GENDER[pronoun],
                "antecedent": antecedent,
            }
            yield Probe(
                family=NAME,
                scenario_id=pair,
                matched_set_id=short_hash(NAME, pair),
                attributes=attrs,
                cue="none",
                condition=stereotype,
                messages=(("user", coref.prompt(sentence, pronoun)),),
                answer_space=candidates,
            )


def _read(text: str, where: str, problem: str) -> tuple[str, str, tuple[str, str], str]:
    """(the sentence without brackets, the antecedent occupation, the two occupations in sentence order,
    the pronoun) of a bracketed line: the first bracket holds the antecedent, a later one the pronoun."""
    brackets = re.findall(r"\[([^\]]*)\]", text)
    pronouns = [b.strip().lower() for b in brackets[1:] if b.strip().lower() in coref.PRONOUN_GENDER]
    named = _OCCUPATION.findall(brackets[0]) if brackets else []
    if len(named) != 1 or not pronouns:
        raise SpecError(where, "data", f"{problem}: expected [the occupation] and then a [pronoun]")
    sentence = re.sub(r"\s+", " ", re.sub(r"[\[\]]", "", text)).strip()
    antecedent = _canonical(named[0])
    order = list(dict.fromkeys(_canonical(o) for o in _OCCUPATION.findall(sentence)))
    others = [o for o in order if o != antecedent]
    if not others:
        raise SpecError(where, "data", f"{problem}: names no second WinoBias occupation")
    first = order.index(antecedent) < order.index(others[0])
    candidates = (antecedent, others[0]) if first else (others[0], antecedent)
    return sentence, antecedent, candidates, pronouns[0]


def _canonical(occupation: str) -> str:
    """An occupation as WinoBias's lists spell it (``CEO``; others lower case)."""
    return "CEO" if occupation.lower() == "ceo" else occupation.lower()


def axes(probes: list[Probe]) -> dict[str, set[str]]:
    """``type``: the types present, and all."""
    return {"type": {"all", *(p.attributes["type"] for p in probes)}}


def disparities(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per type (in data order) and over both (``grp`` "all"): accuracy on the pro and on the anti
    sentences and the paired pro − anti gap; ``p_bh``: Benjamini–Hochberg across the types' gaps."""
    return by_category(frame, "type", _rows, PRO_ANTI_GAP.name)


def _rows(grp: str, d: pd.DataFrame) -> list[dict[str, Any]]:
    base = {"cue": "none", "axis": "type", "grp": grp, "reference": None}
    rows = [
        {**base, **coref.accuracy_row(part, "pair", metric)}
        for stereotype, metric in (("pro", PRO_ACCURACY), ("anti", ANTI_ACCURACY))
        if len(part := d[d["stereotype"] == stereotype])
    ]
    if {"pro", "anti"} <= set(d["stereotype"]):
        rows.append({**coref.gap_row(d, PRO_ANTI_GAP, "stereotype", "pro", "anti", "type"), **base})
    return rows


FAMILY = register(
    Family(
        NAME,
        WinoBiasSet,
        expand=expand,
        requests=coref.requests,
        score=coref.score,
        disparities=disparities,
        axes=axes,
        metrics=(PRO_ACCURACY, ANTI_ACCURACY, PRO_ANTI_GAP),
        dataset=DATASET,
    )
)
