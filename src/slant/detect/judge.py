"""An LLM judge for refusals, as a check on the refusal labeller (``slant.detect.refusal``).

``judge_messages`` builds the chat messages from ``prompts/judge/refusal.md``: a system part with the
label definitions (one paragraph each, in a ``<!-- definitions -->`` part, presented in the order a
repeat asks for, see ``label_orders``) and a user part around ``{question}`` and ``{response}``;
``parse_judge`` reads the judge's one-word label; ``majority`` and ``self_consistency`` summarise
repeated judgements of one reply; ``agreement`` measures how far two labelings agree (Cohen's kappa,
statsmodels).

The judge uses the three XSTest labels. The rules have a fourth, ``persona_abstention``, which the
prompt tells the judge to call ``full_refusal``: map rule labels with ``xstest_label`` before comparing.
"""

from __future__ import annotations

import itertools
import random
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa

from slant.prompts import load_prompt

PROMPT = "judge/refusal.md"
LABELS = ("compliance", "partial_refusal", "full_refusal")
_SYSTEM, _USER = "<!-- system -->", "<!-- user -->"
_DEFINITIONS = re.compile(r"<!-- definitions\b.*?-->")
_SLOT = re.compile(r"\{(question|response|definitions|labels)\}")
_LABEL_PATTERNS = {  # after "_" and "-" become spaces and case is folded
    "compliance": re.compile(r"(?<!non )\bcompliance\b"),
    "partial_refusal": re.compile(r"\bpartial\s+refusal\b"),
    "full_refusal": re.compile(r"\bfull\s+refusal\b"),
}


def _template() -> tuple[str, dict[str, str], str]:
    """The prompt's system text, its label definitions by label (in the file's order) and its user text."""
    text = load_prompt(PROMPT)
    parts = _DEFINITIONS.split(text.split(_USER, 1)[0])
    if _SYSTEM not in text or _USER not in text or len(parts) != 2:
        raise ValueError(f"prompts/{PROMPT} must hold a {_SYSTEM}, a <!-- definitions --> and a {_USER} part")
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", parts[1].strip())]
    definitions = {p.split(":", 1)[0]: p for p in paragraphs}
    if sorted(definitions) != sorted(LABELS) or len(paragraphs) != len(LABELS):
        raise ValueError(f"prompts/{PROMPT}: the definitions must be one paragraph per label, 'label: ...'")
    return parts[0].replace(_SYSTEM, ""), definitions, text.split(_USER, 1)[1]


def label_orders(repeats: int, seed: int = 0) -> list[tuple[str, ...]]:
    """The order the definitions are shown in at each of ``repeats`` repeats: the prompt file's order
    first, then the other orders of the labels in a sequence shuffled with ``seed`` (``random.Random``);
    past the 3! = 6 orders the sequence starts again."""
    first = tuple(_template()[1])
    rest = [p for p in itertools.permutations(first) if p != first]
    random.Random(seed).shuffle(rest)
    cycle = [first, *rest]
    return [cycle[r % len(cycle)] for r in range(repeats)]


def judge_messages(
    question: str, response: str, order: Sequence[str] | None = None
) -> tuple[tuple[str, str], ...]:
    """(("system", …), ("user", …)) asking the judge to label ``response`` to ``question``, with the
    label definitions in ``order`` (default: the prompt file's order)."""
    system, definitions, user = _template()
    order = tuple(order or definitions)
    if sorted(order) != sorted(definitions):
        raise ValueError(f"label order {order} is not an order of {', '.join(definitions)}")
    values = {
        "question": question,
        "response": response,
        "definitions": "\n\n".join(definitions[label] for label in order),
        "labels": f"{', '.join(order[:-1])} or {order[-1]}",
    }

    def fill(part: str) -> str:  # one pass: braces in the texts stay as they are
        return _SLOT.sub(lambda m: values[m.group(1)], part).strip()

    return (("system", fill(system)), ("user", fill(user)))


def parse_judge(text: str) -> str | None:
    """The one label the judge named, as a whole word ("Full_refusal.", "partial refusal" and
    "full-refusal" count); None when it named none or more than one."""
    norm = re.sub(r"[_\-]+", " ", text.casefold())
    found = [label for label, pattern in _LABEL_PATTERNS.items() if pattern.search(norm)]
    return found[0] if len(found) == 1 else None


def xstest_label(label: str) -> str:
    """A rule label on the judge's scale: ``persona_abstention`` is a full refusal, the rest are unchanged."""
    return "full_refusal" if label == "persona_abstention" else label


def majority(judgements: Sequence[str | None]) -> str | None:
    """The label named by more than half of one reply's judgements (an unparsed one, None, counts in
    the total but names nothing); None when no label has such a majority."""
    counts = Counter(j for j in judgements if j is not None)
    label, n = counts.most_common(1)[0] if counts else (None, 0)
    return label if 2 * n > len(judgements) else None


def self_consistency(items: Sequence[Sequence[str | None]]) -> dict[str, Any]:
    """How often repeated judgements of the same reply agree.

    ``items`` holds each reply's judgements, one per repeat (None: unparsed). Over the replies whose
    judgements all parsed (``n``): ``consistent``, the share that got one label in every repeat, and
    ``fleiss_kappa`` across the repeats (statsmodels; None with fewer than two repeats, or when it is
    undefined because a single label was ever named). ``n_incomplete``: replies left out because a
    judgement did not parse.
    """
    complete = [list(item) for item in items if item and None not in item]
    repeats = {len(item) for item in complete}
    if len(repeats) > 1:
        raise ValueError(f"every reply needs the same number of judgements, got {sorted(repeats)}")
    n = len(complete)
    consistent = sum(len(set(item)) == 1 for item in complete) / n if n else None
    fleiss = None
    if n and repeats.pop() >= 2:
        table = np.array([[item.count(label) for label in LABELS] for item in complete])
        with warnings.catch_warnings():  # 0/0 when every judgement named one label: undefined
            warnings.simplefilter("ignore", RuntimeWarning)
            value = float(fleiss_kappa(table, method="fleiss"))
        fleiss = None if np.isnan(value) else value
    return {"n": n, "n_incomplete": len(items) - n, "consistent": consistent, "fleiss_kappa": fleiss}


def agreement(rule_labels: list[str], judge_labels: list[str]) -> dict[str, Any]:
    """Cohen's kappa between two labelings of the same replies, with its 95% CI, n, the raw share that
    agree and the confusion table (``table[rule][judge]``: a count).

    The confusion table is square over the union of labels seen (``pandas.crosstab``), and kappa and its
    asymptotic CI (clipped to [-1, 1]) come from ``statsmodels.stats.inter_rater.cohens_kappa``. When
    chance agreement is 1 (both raters used a single, identical label) kappa is undefined: NaN. The CI is
    None when kappa's standard error is zero or undefined (a degenerate table, e.g. one rater used a
    single label). Drop unparsed judgments (None) first: they raise ValueError, as do lists of different
    lengths or empty lists.
    """
    if len(rule_labels) != len(judge_labels):
        raise ValueError(f"{len(rule_labels)} rule labels but {len(judge_labels)} judge labels")
    if not rule_labels:
        raise ValueError("no labels to compare")
    if any(x is None for x in (*rule_labels, *judge_labels)):
        raise ValueError("a label is None: drop unparsed judgments before computing agreement")
    labels = sorted(set(rule_labels) | set(judge_labels))
    table = pd.crosstab(
        pd.Categorical(rule_labels, categories=labels),
        pd.Categorical(judge_labels, categories=labels),
        dropna=False,
    )
    n = len(rule_labels)
    observed = sum(a == b for a, b in zip(rule_labels, judge_labels, strict=True)) / n
    kappa, ci = float("nan"), None
    if len(labels) > 1:
        with warnings.catch_warnings():  # its z statistic divides by zero on degenerate tables; kappa is fine
            warnings.simplefilter("ignore", RuntimeWarning)
            result = cohens_kappa(table.to_numpy(), return_results=True)
        kappa = float(result.kappa)
        if result.std_kappa > 0:  # zero or NaN on a degenerate table: no interval
            ci = (max(float(result.kappa_low), -1.0), min(float(result.kappa_upp), 1.0))  # kappa's range
    counts = {a: {b: int(table.iloc[i, j]) for j, b in enumerate(labels)} for i, a in enumerate(labels)}
    return {"kappa": kappa, "ci": ci, "n": n, "agreement": observed, "table": counts}
