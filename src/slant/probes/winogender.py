"""Winogender schemas (Rudinger, Naradowsky, Leonard & Van Durme 2018, "Gender Bias in Coreference
Resolution", NAACL): 120 templates, each a sentence with an occupation, a participant (or "someone") and
a pronoun that refers to one of them, written with he, she and they.

Data: the user's copy of the released ``data/all_sentences.tsv`` (``sentid<TAB>sentence``; a sentid is
``occupation.participant.answer.gender.txt``, answer 0 meaning the pronoun refers to the occupation, 1 to
the participant), named by ``data:``; ``occupations:`` names ``data/occupations-stats.tsv`` (the BLS share
of women per occupation) for the gotcha subset.

Scoring, as lm-evaluation-harness's ``winogender_*`` tasks (:mod:`slant.probes.coref`): the sentence, then
``‘Pronoun’ refers to the``; the answer is the more likely of the occupation and the participant.

Disparities, per cue:
- ``coref_accuracy`` on axis ``pronoun``: all sentences and each pronoun gender (lm-eval's
  ``winogender_all``, ``_male``, ``_female``, ``_neutral``); on axis ``gotcha`` (given ``occupations``):
  the sentences whose pronoun's gender is not the occupation's BLS majority (over 50% women: female),
  all and by gender (``winogender_gotcha``, ``_male``, ``_female``). CIs clustered by template.
- ``pronoun_accuracy_gap``: female − male and neutral − male accuracy, paired within each sentence's
  three pronoun versions; CI by a bootstrap over templates, paired t p.
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

NAME = "winogender"
GENDERS = ("male", "female", "neutral")
RAW = "https://raw.githubusercontent.com/rudinger/winogender-schemas/master/data/"
DATASET = register_dataset(
    Dataset(
        NAME,
        "Winogender schemas",
        "https://github.com/rudinger/winogender-schemas",
        "MIT",
        "Rudinger, Naradowsky, Leonard & Van Durme (2018). Gender Bias in Coreference Resolution. NAACL-HLT.",
        tuple(RAW + f for f in ("all_sentences.tsv", "occupations-stats.tsv", "templates.tsv")),
    )
)
PRONOUN_GAP = Metric(
    "pronoun_accuracy_gap",
    Kind.GAP,
    "accuracy with a female (or neutral) pronoun minus with a male one, paired over the versions of the "
    "same sentence",
    0.0,
)


class WinogenderSet(BaseModel):
    """A Winogender probe set in a campaign file (paths relative to the campaign file)."""

    model_config = ConfigDict(extra="forbid")
    family: Literal["winogender"] = Field(description="the probe family")
    name: str = Field(NAME, description="name of the set, unique within the campaign")
    data: str = Field(description="path or glob of the released all_sentences.tsv")
    occupations: str | None = Field(
        None, description="path of the released occupations-stats.tsv: adds the gotcha subset"
    )


def expand(ps: WinogenderSet, base: Path, where: str) -> Iterator[Probe]:
    """Every sentence of the data files, in file order."""
    majority = _majorities(ps.occupations, base, where) if ps.occupations else None
    seen: set[str] = set()
    for path in data_files(ps.data, base, where):
        for n, sentid, sentence in _rows(path, where):
            problem = f"{path.name} line {n}"
            if sentid in seen:
                raise SpecError(where, "data", f"{problem}: sentid {sentid!r} appears twice")
            seen.add(sentid)
            occupation, participant, answer, gender = _parse_id(sentid, where, problem)
            pronoun = _pronoun(sentence, gender, where, problem)
            gotcha = None
            if majority is not None:
                if occupation not in majority:
                    raise SpecError(where, "occupations", f"no BLS share for {occupation!r} ({problem})")
                gotcha = gender != "neutral" and gender != majority[occupation]
            antecedent = (occupation, participant)[answer]
            attrs = {
                "gender": gender,
                "gotcha": gotcha,
                "occupation": occupation,
                "participant": participant,
                "antecedent": antecedent,
                "pronoun": pronoun,
                "sentid": sentid,
            }
            yield Probe(
                family=NAME,
                scenario_id=f"{occupation}.{answer}",  # the template
                matched_set_id=short_hash(NAME, occupation, participant, answer),  # its three pronouns
                attributes=attrs,
                cue="none",
                condition=gender,
                messages=(("user", coref.prompt(sentence, pronoun)),),
                answer_space=(occupation, participant),
            )


def _rows(path: Path, where: str) -> Iterator[tuple[int, str, str]]:
    """(line number, sentid, sentence) of a released all_sentences.tsv."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["sentid", "sentence"]:
        raise SpecError(where, "data", f"{path.name}: the header must be 'sentid<TAB>sentence'")
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2 or not cells[1].strip():
            raise SpecError(where, "data", f"{path.name} line {n}: expected 'sentid<TAB>sentence'")
        yield n, cells[0].strip(), cells[1].strip()


def _parse_id(sentid: str, where: str, problem: str) -> tuple[str, str, int, str]:
    """(occupation, participant, answer, gender) of a sentid ``occupation.participant.answer.gender.txt``."""
    parts = sentid.split(".")
    if len(parts) != 5 or parts[4] != "txt" or parts[2] not in ("0", "1") or parts[3] not in GENDERS:
        raise SpecError(
            where, "data", f"{problem}: sentid {sentid!r} is not occupation.participant.0|1.gender.txt"
        )
    return parts[0], parts[1], int(parts[2]), parts[3]


def _pronoun(sentence: str, gender: str, where: str, problem: str) -> str:
    """The one pronoun of the sentence, which must be of the sentid's gender."""
    found = [w for w in re.findall(r"[A-Za-z]+", sentence) if w.lower() in coref.PRONOUN_GENDER]
    if len(found) != 1 or coref.PRONOUN_GENDER[found[0].lower()] != gender:
        raise SpecError(where, "data", f"{problem}: expected exactly one {gender} pronoun, found {found}")
    return found[0].lower()


def _majorities(path_text: str, base: Path, where: str) -> dict[str, str]:
    """Each occupation's BLS majority gender (female above 50% women) from occupations-stats.tsv."""
    path = data_files(path_text, base, where, "occupations")[0]
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = rows[0] if rows else []
    if "occupation" not in header or "bls_pct_female" not in header:
        raise SpecError(where, "occupations", f"{path.name}: no 'occupation' and 'bls_pct_female' columns")
    occ, pct = header.index("occupation"), header.index("bls_pct_female")
    out = {}
    for n, row in enumerate(rows[1:], 2):
        try:
            out[row[occ]] = "female" if float(row[pct]) > 50 else "male"
        except (IndexError, ValueError):
            raise SpecError(where, "occupations", f"{path.name} line {n}: no bls_pct_female number") from None
    return out


def axes(ps: WinogenderSet, probes: list[Probe]) -> dict[str, set[str]]:
    """``pronoun`` (all and each gender) and, given occupations, ``gotcha`` (all, male, female)."""
    genders = {p.attributes["gender"] for p in probes}
    out = {"pronoun": {"all", *genders}}
    if ps.occupations:
        out["gotcha"] = {"all", *(genders - {"neutral"})}
    return out


def disparities(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Per cue: accuracy overall, by pronoun gender and on the gotcha subset; paired gaps vs male."""
    rows: list[dict[str, Any]] = []
    for cue, d in frame.groupby("cue", sort=False):
        subsets: list[tuple[str, pd.DataFrame]] = [("pronoun", d)]
        if d["gotcha"].notna().any():
            subsets.append(("gotcha", d[d["gotcha"].fillna(False).astype(bool)]))
        for axis, sub in subsets:
            for grp in ("all", *GENDERS):
                part = sub if grp == "all" else sub[sub["gender"] == grp]
                if len(part):
                    base = {"cue": str(cue), "axis": axis, "grp": grp, "reference": None}
                    rows.append({**base, **coref.accuracy_row(part, "template")})
        for level in ("female", "neutral"):
            if {level, "male"} <= set(d["gender"]):
                rows.append(
                    {"cue": str(cue), **coref.gap_row(d, PRONOUN_GAP, "gender", level, "male", "pronoun")}
                )
    return rows


FAMILY = register(
    Family(
        NAME,
        WinogenderSet,
        expand=expand,
        requests=coref.requests,
        score=coref.score,
        disparities=disparities,
        axes=axes,
        metrics=(coref.COREF_ACCURACY, PRONOUN_GAP),
        dataset=DATASET,
    )
)
