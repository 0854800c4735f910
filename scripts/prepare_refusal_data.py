"""Turn the public labelled reply sets named in docs/refusal-model.md into JSONL rows for
scripts/train_refusal.py: ``{"text", "label", "source", "group"}``, label one of compliance,
full_refusal, partial_refusal. The data stay on the user's machine; only the fitted model ships.

    python scripts/prepare_refusal_data.py --gptfuzz GPTFuzz/datasets/responses_labeled \
        --coconot noncompliance/data/coconot_pref.jsonl --jbb artifacts/attack-artifacts --out DATA

writes DATA/gptfuzz_train.jsonl, gptfuzz_eval.jsonl, coconot.jsonl and jbb.jsonl (each only when its
source is given). Label mappings (why, in the card):
- GPTFuzz (human labels, 1 = jailbroken): 1 -> compliance, 0 -> full_refusal; replies that are mostly
  not Latin script, or empty, are dropped. ``group`` is the question id (train/evaluate split by question).
- CoCoNot contrast preference set: the ``chosen`` reply (a compliant answer to a benign request) ->
  compliance. The ``rejected`` replies carry no refusal label and are not used.
- JailbreakBench artifacts (evaluation only; labels by the JBB Llama-3-70B judge, not humans): replies
  judged jailbroken -> compliance; the others are not labelled as refusals by that judge and are dropped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

csv.field_size_limit(sys.maxsize)


def latin(text: str) -> bool:
    """Mostly Latin-script text (the detector is English-only)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isascii() for c in letters) / len(letters) > 0.9


def gptfuzz(path: Path, name: str) -> list[dict[str, str]]:
    rows = []
    with open(path / f"{name}.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            text = (r["Response"] or "").strip()
            if text and latin(text):
                label = "compliance" if r["label"].strip() == "1" else "full_refusal"
                rows.append({"text": text, "label": label, "source": "gptfuzz", "group": f"q{r['question']}"})
    return rows


def coconot(path: Path) -> list[dict[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            if r["chosen"].strip():
                rows.append(
                    {
                        "text": r["chosen"].strip(),
                        "label": "compliance",
                        "source": "coconot",
                        "group": r["id"],
                    }
                )
    return rows


def jbb(path: Path) -> list[dict[str, str]]:
    rows = []
    for f in sorted(path.glob("*/*/*.json")):
        for j in json.loads(f.read_text(encoding="utf-8")).get("jailbreaks", []):
            text = (j.get("response") or "").strip()
            if j.get("jailbroken") and text and latin(text):
                group = f"{f.parent.parent.name}/{f.stem}/{j['index']}"
                rows.append({"text": text, "label": "compliance", "source": "jbb", "group": group})
    return rows


def write(out: Path, name: str, rows: list[dict[str, str]]) -> None:
    with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} rows", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gptfuzz", type=Path, help="GPTFuzz's datasets/responses_labeled folder")
    ap.add_argument("--coconot", type=Path, help="CoCoNot's data/coconot_pref.jsonl")
    ap.add_argument("--jbb", type=Path, help="JailbreakBench artifacts' attack-artifacts folder")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.gptfuzz:
        write(a.out, "gptfuzz_train", gptfuzz(a.gptfuzz, "train"))
        write(a.out, "gptfuzz_eval", gptfuzz(a.gptfuzz, "evaluate"))
    if a.coconot:
        write(a.out, "coconot", coconot(a.coconot))
    if a.jbb:
        write(a.out, "jbb", jbb(a.jbb))


if __name__ == "__main__":
    main()
