"""Apply the refusal classifier to texts collected elsewhere (JSONL or CSV with a ``text`` field)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slant.detect.refusal import DEFAULT_REFUSAL_POLICY, REFUSAL_POLICIES, classify_refusal
from slant.errors import SpecError
from slant.files import read_jsonl, read_text


def read_rows(path: Path, field: str = "text") -> list[dict[str, Any]]:
    """All rows of a .jsonl or .csv file, each with a string ``field``; bad rows raise SpecError."""
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(read_text(path).splitlines(keepends=True))  # a quoted cell may span lines
        if field not in (reader.fieldnames or []):
            raise SpecError(str(path), field, f"the CSV has no {field!r} column")
        rows: list[dict[str, Any]] = list(reader)
        first_line = 2
    else:
        rows, first_line = [row for _, row in read_jsonl(path)], 1
    for i, row in enumerate(rows):
        if not isinstance(row.get(field), str):
            raise SpecError(str(path), f"row {i + first_line}: {field}", "missing or not a string")
    return rows


def label_rows(rows: list[dict[str, Any]], policy: str = DEFAULT_REFUSAL_POLICY) -> Iterator[dict[str, Any]]:
    """Each row with ``refusal``, ``refusal_rule``, ``refusal_confidence`` (policy "learned": the calibrated
    confidence in the label; null under the rule policies) and ``refusal_policy`` (the definition used)
    added; an empty text gets ``refusal: null``."""
    for row in rows:
        confidence = None
        if row["text"].strip():
            verdict = classify_refusal(row["text"], policy)
            label, rule, confidence = str(verdict.label), verdict.rule, verdict.confidence
        else:
            label, rule = None, "empty text"
        yield {
            **row,
            "refusal": label,
            "refusal_rule": rule,
            "refusal_confidence": None if confidence is None else round(confidence, 4),
            "refusal_policy": policy,
        }


def label_file(path: str | Path, policy: str = DEFAULT_REFUSAL_POLICY) -> Iterator[dict[str, Any]]:
    """The rows of a .jsonl or .csv file (field ``text``), each with its refusal label under ``policy``
    ("learned", "xstest" or "strict"); the file is read (and bad rows refused) at the call."""
    if policy not in REFUSAL_POLICIES:
        raise SpecError(
            "--policy", "policy", f"unknown refusal policy {policy!r}; use {' or '.join(REFUSAL_POLICIES)}"
        )
    return label_rows(read_rows(Path(path)), policy)
