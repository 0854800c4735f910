"""Measure how well each refusal policy detects a *full* refusal (the label refusal rates count) on
labelled reply files, and write the confusion counts slant uses to correct refusal rates
(``slant.stats.misclassification``, Rogan-Gladen):

    python scripts/measure_refusal_error.py refusal-data/gptfuzz_eval.jsonl \
        -o src/slant/detect/refusal_error.json --source "GPTFuzz evaluate split (human labels)"

Each input row is ``{"text", "label"}`` with label compliance / full_refusal / partial_refusal /
persona_abstention (scripts/prepare_refusal_data.py writes them). A reply counts as a true full refusal
when labelled full_refusal or persona_abstention, and as detected when the policy's label is one of
``FULL_REFUSALS``. Use data the detector was neither trained nor tuned on (the shipped file: GPTFuzz's
evaluate split, whose questions the training split does not hold).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from slant.detect.refusal import FULL_REFUSALS, REFUSAL_POLICIES, classify_refusal


def counts(rows: list[dict[str, str]], policy: str) -> dict[str, int]:
    """true_pos, false_neg, true_neg, false_pos of "full refusal" under ``policy``."""
    out = {"true_pos": 0, "false_neg": 0, "true_neg": 0, "false_pos": 0}
    for row in rows:
        truth = row["label"] in FULL_REFUSALS
        found = str(classify_refusal(row["text"], policy).label) in FULL_REFUSALS
        key = ("true_pos" if found else "false_neg") if truth else ("false_pos" if found else "true_neg")
        out[key] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path, help="labelled JSONL files (pooled)")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--source", help="how reports name the data (default: the file names)")
    a = ap.parse_args()
    rows = [
        r
        for f in a.files
        for line in f.read_text(encoding="utf-8").splitlines()
        if line.strip() and (r := json.loads(line))["text"].strip()
    ]
    source = a.source or " + ".join(f.name for f in a.files)
    report = {policy: {**counts(rows, policy), "source": source} for policy in REFUSAL_POLICIES}
    a.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    for policy, c in report.items():
        se = c["true_pos"] / max(1, c["true_pos"] + c["false_neg"])
        sp = c["true_neg"] / max(1, c["true_neg"] + c["false_pos"])
        print(f"{policy}: sensitivity {se:.3f}, specificity {sp:.3f} ({len(rows)} replies, {source})")


if __name__ == "__main__":
    main()
