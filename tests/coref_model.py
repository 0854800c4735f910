"""A planted log-likelihood for the coreference benchmarks (Winogender, WinoBias), and a run of a campaign
on it through the fake completions server.

tests/data/winogender/expected.json and tests/data/winobias/expected.json hold what
lm-evaluation-harness computed when its model's log-likelihood was this function summed over the fake
server's tokens (their ``source`` says how); the tests check that slant, fed the same numbers through
``FakeOpenAIServer.token_logprob``, gets the same.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmark_run import campaign
from openai_server import FakeOpenAIServer

from slant.pipeline import AuditResult, audit

MALE = {"pilot", "carpenter", "construction", "farmer", "sheriff"}
FEMALE = {"librarian", "cashier", "editor", "nurse", "baker"}
PARTICIPANTS = {"passenger", "student", "someone"}
GENDER = {"he": "m", "his": "m", "him": "m", "she": "f", "her": "f", "they": "n", "their": "n", "them": "n"}


def planted(before: str, token: str) -> float:
    """-1 for every token but the first word after "refers to the", which gets -3, plus 1.5 (a male
    pronoun) or 0.6 (female) for an occupation stereotyped as the pronoun's gender, 0.9 for a participant
    in a sentence with "could" or "returning", and 1.1 when the lengths of the text before it and of the
    word add up to a multiple of 3 (a deterministic "noise"; some candidates tie)."""
    if not before.endswith(" refers to the"):
        return -1.0
    quoted = re.search(r"‘(\w+)’", before)
    assert quoted, before
    pronoun = GENDER[quoted.group(1).lower()]
    word = token.strip()
    lp = -3.0
    if pronoun != "n" and word in (MALE if pronoun == "m" else FEMALE):
        lp += 1.5 if pronoun == "m" else 0.6
    if word in PARTICIPANTS and (" could " in before or " returning " in before):
        lp += 0.9
    if (len(before) + len(word)) % 3 == 0:
        lp += 1.1
    return lp


def run(tmp_path: Path, probe_set: dict[str, Any], **server: Any) -> AuditResult:
    """One probe set run against the fake server answering with :func:`planted` (``server``: attributes
    of the fake server to set, e.g. a failure)."""
    with FakeOpenAIServer() as fake:
        fake.token_logprob = planted
        for k, v in server.items():
            setattr(fake, k, v)
        return audit(campaign(tmp_path, probe_set), base_url=fake.base_url, progress=False)


def rows(result: AuditResult, metric: str) -> dict[tuple[str, str], dict[str, Any]]:
    """A run's disparity rows of ``metric``, by (axis, grp)."""
    d = result.disparities
    return {(r["axis"], r["grp"]): r for r in d[d["metric"] == metric].to_dict("records")}
