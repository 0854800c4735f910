"""Fit the learned refusal detector shipped in src/slant/detect/refusal_model.npz, and measure it.

    python scripts/train_refusal.py --train DATA/gptfuzz_train.jsonl DATA/coconot.jsonl \
        --out src/slant/detect/refusal_model.npz --eval DATA/gptfuzz_eval.jsonl tests/data/refusals.jsonl

(``make refusal-model DATA=...`` runs this; DATA comes from scripts/prepare_refusal_data.py, see
docs/refusal-model.md.) Needs scikit-learn at training time only (``pip install -e .[train]``); slant
itself reads the weights with numpy. Rows are JSONL ``{"text", "label"}`` with label compliance,
full_refusal, partial_refusal or persona_abstention; the model learns "refuses (fully or partly) or
not". The featurizer is slant's own (``slant.detect.refusal_model.features``). Steps, all seeded:
duplicates dropped; the regularization C chosen by grouped 5-fold cross-validation (log loss) on the
training rows only; a Platt calibration fitted on the out-of-fold scores; the final fit on every
training row. ``--eval`` files are scored by the three-way labeller (``classify_refusal``, policy
"learned", with the fitted model) and by the rules (policy "xstest"), printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import GroupKFold

from slant.detect.refusal import REFUSALS, classify_refusal, learned_verdict, rule_tokens
from slant.detect.refusal_model import BUCKETS, RefusalModel, features

GRID = (1.0, 3.0, 10.0, 30.0, 100.0)
LABELS = ("compliance", "full_refusal", "partial_refusal")


def read(paths: list[Path]) -> list[dict[str, Any]]:
    rows, seen = [], set()
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            if r["text"] in seen or not r["text"].strip():
                continue
            seen.add(r["text"])
            rows.append({**r, "group": f"{r.get('source', path.stem)}:{r.get('group', n)}"})
    return rows


def matrix(texts: list[str]) -> sparse.csr_matrix:
    data, cols, ptr = [], [], [0]
    for t in texts:
        f = features(t, rule_tokens(classify_refusal(t, "xstest")))
        cols += list(f)
        data += list(f.values())
        ptr.append(len(cols))
    return sparse.csr_matrix((data, cols, ptr), shape=(len(texts), BUCKETS), dtype=np.float64)


def fit(x: sparse.csr_matrix, y: np.ndarray, c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000, solver="liblinear", random_state=seed).fit(x, y)


def train(rows: list[dict[str, Any]], seed: int) -> tuple[RefusalModel, dict[str, Any]]:
    x = matrix([r["text"] for r in rows])
    y = np.array([r["label"] in REFUSALS for r in rows], dtype=int)
    groups = np.array([r["group"] for r in rows])
    folds = list(GroupKFold(n_splits=5).split(x, y, groups))
    best: tuple[float, float, np.ndarray] | None = None
    for c in GRID:
        oof = np.zeros(len(rows))
        for tr, te in folds:
            oof[te] = fit(x[tr], y[tr], c, seed).decision_function(x[te])
        loss = log_loss(y, 1 / (1 + np.exp(-oof)))
        print(f"C={c}: out-of-fold log loss {loss:.4f}", file=sys.stderr)
        if best is None or loss < best[1]:
            best = (c, loss, oof)
    assert best is not None
    c, _, oof = best
    platt = LogisticRegression(C=1e6, solver="lbfgs").fit(oof.reshape(-1, 1), y)
    final = fit(x, y, c, seed)
    model = RefusalModel(
        weights=final.coef_[0].astype(np.float32),
        intercept=float(final.intercept_[0]),
        scale=float(platt.coef_[0][0]),
        shift=float(platt.intercept_[0]),
        version=f"refusal-lr-{time.strftime('%Y%m%d')}",
    )
    return model, {"C": c, "rows": len(rows), "refusals": int(y.sum()), "seed": seed}


def save(model: RefusalModel, path: Path) -> None:
    np.savez_compressed(
        path,
        weights=model.weights.astype(np.float16),
        intercept=np.float64(model.intercept),
        scale=np.float64(model.scale),
        shift=np.float64(model.shift),
        version=np.array(model.version),
        buckets=np.int64(BUCKETS),
    )


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> tuple[float, list[list[float]]]:
    """Expected calibration error and the table (bin low, mean confidence, accuracy, n) of P(refusal)."""
    table, ece = [], 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        m = (p >= lo) & ((p < hi) if b < bins - 1 else (p <= hi))
        if m.any():
            table.append([lo, float(p[m].mean()), float(y[m].mean()), int(m.sum())])
            ece += m.sum() / len(p) * abs(p[m].mean() - y[m].mean())
    return float(ece), table


def per_class(truth: list[str], pred: list[str]) -> dict[str, dict[str, float]]:
    out = {}
    for label in sorted(set(truth) | set(pred)):
        tp = sum(t == p == label for t, p in zip(truth, pred, strict=True))
        n_pred, n_true = pred.count(label), truth.count(label)
        out[label] = {
            "precision": tp / n_pred if n_pred else float("nan"),
            "recall": tp / n_true if n_true else float("nan"),
            "n": n_true,
        }
    return out


def three_way(label: str) -> str:
    return "full_refusal" if label == "persona_abstention" else label


def evaluate(model: RefusalModel, path: Path) -> dict[str, Any]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # rows of tests/data/refusals.jsonl marked "policy": "strict" are answers after a disclaimer: XSTest's
    # compliance, which is what both labellers measured here aim at
    truth = ["compliance" if r.get("policy") == "strict" else three_way(r["label"]) for r in rows]
    out: dict[str, Any] = {"rows": len(rows), "labels": dict(Counter(truth))}
    for name in ("learned", "xstest"):
        start = time.perf_counter()
        if name == "learned":
            verdicts = [learned_verdict(r["text"], model) for r in rows]
        else:
            verdicts = [classify_refusal(r["text"], "xstest") for r in rows]
        seconds = time.perf_counter() - start
        pred = [three_way(str(v.label)) for v in verdicts]
        yb = np.array([t != "compliance" for t in truth])
        pb = np.array([p != "compliance" for p in pred])
        res: dict[str, Any] = {
            "binary_accuracy": float((yb == pb).mean()),
            "three_way_accuracy": float(np.mean([t == p for t, p in zip(truth, pred, strict=True)])),
            "per_class": per_class(truth, pred),
            "binary": per_class(
                ["refusal" if v else "compliance" for v in yb], ["refusal" if v else "compliance" for v in pb]
            ),
            "replies_per_second": len(rows) / seconds,
        }
        if name == "learned":
            p = np.array(
                [
                    model.probability(r["text"], rule_tokens(classify_refusal(r["text"], "xstest")))
                    for r in rows
                ]
            )
            res["brier"] = float(np.mean((p - yb) ** 2))
            res["ece"], res["reliability"] = reliability(p, yb.astype(float))
            conf = np.array([v.confidence for v in verdicts], dtype=float)
            correct = np.array([t == pr for t, pr in zip(truth, pred, strict=True)])
            res["label_confidence_mean"] = float(conf.mean())
            res["label_accuracy"] = float(correct.mean())
        out[name] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, nargs="+", required=True, help="JSONL files of labelled replies")
    ap.add_argument("--out", type=Path, required=True, help="where to write the model (.npz)")
    ap.add_argument("--eval", type=Path, nargs="*", default=[], help="JSONL files to measure it on")
    ap.add_argument("--report", type=Path, help="write the measurements here as JSON")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rows = read(a.train)
    print(f"training on {len(rows)} rows: {dict(Counter(r['label'] for r in rows))}", file=sys.stderr)
    model, info = train(rows, a.seed)
    save(model, a.out)
    report: dict[str, Any] = {"train": [str(p) for p in a.train], **info, "model_bytes": a.out.stat().st_size}
    report["eval"] = {str(p): evaluate(model, p) for p in a.eval}
    for path, res in report["eval"].items():
        for name in ("learned", "xstest"):
            r = res[name]
            print(
                f"{path} [{name}]: binary {r['binary_accuracy']:.3f}, 3-way {r['three_way_accuracy']:.3f}"
                + (f", Brier {r['brier']:.3f}, ECE {r['ece']:.3f}" if "brier" in r else ""),
                file=sys.stderr,
            )
    if a.report:
        a.report.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
