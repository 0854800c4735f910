"""Apply the refusal classifier to texts collected elsewhere (JSONL or CSV with a ``text`` field)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from slant.detect.refusal import DEFAULT_REFUSAL_POLICY, REFUSAL_POLICIES, classify_refusal
from slant.errors import SpecError
from slant.files import read_text


def read_rows(path: Path) -> list[dict[str, Any]]:
    """All rows of a .jsonl or .csv file, each with a string ``text``; bad rows raise SpecError."""
    raw = read_text(path)
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(raw.splitlines())
        if "text" not in (reader.fieldnames or []):
            raise SpecError(str(path), "text", "the CSV has no 'text' column")
        rows: list[dict[str, Any]] = list(reader)
        first_line = 2
    else:
        rows, first_line = [], 1
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise SpecError(str(path), f"line {n}", f"not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise SpecError(str(path), f"line {n}", "expected a JSON object")
            rows.append(row)
    for i, row in enumerate(rows):
        if not isinstance(row.get("text"), str):
            raise SpecError(str(path), f"row {i + first_line}: text", "missing or not a string")
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
