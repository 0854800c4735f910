"""Uncertainty-aware fairness, after UCerF (Wang et al., 2025, "Is Your Model Fairly Certain?
Uncertainty-Aware Fairness Evaluation for LLMs", ICML 2025, arXiv:2505.23996).

UCerF's point: two groups can get the same accuracy while the model is confidently right for one and
barely right (or confidently wrong) for the other. The paper's exact formula could not be checked (the
paper was not available offline; its companion repository apple/ml-synthbias holds the dataset only),
so slant uses its own score, under its own metric names (``certainty_*``), stated here and in the README:

- for each outcome with a gold or favourable answer, ``margin`` is the model's probability of that
  answer minus the highest probability of any other answer (with two answers, 2p − 1), in [−1, 1];
  *correct* says whether the chosen answer is the gold (or favourable) one and *confidence* is the
  probability of the answer chosen;
- **certainty-weighted correctness** w = margin: confidently right scores near +1, confidently wrong
  near −1, and a guess near 0 on either side of the decision boundary (w is continuous there: P(yes)
  0.49 gives −0.02, 0.51 gives +0.02);
- per group: accuracy, mean confidence when right, mean confidence when wrong, and mean w with a CI
  clustered by scenario; between a group and the reference: the gap in mean w (OLS with
  cluster-robust SE by scenario) and **fairness = 1 − |gap| / 2** in [0, 1] (1 = equally certain).

Until 2026 w was ±confidence (+c when right, −c when wrong), which jumps from −0.51 to +0.51 across the
decision boundary although a guess should score near 0.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from slant.stats.groups import clustered_fit, mean_row
from slant.stats.metric import Kind, Metric
from slant.stats.text import as_text

METHOD_W = (
    "certainty-weighted correctness w = P(correct answer) - highest P(other answer), i.e. 2p - 1 with two "
    "answers (slant's definition; UCerF's own formula not verified)"
)
CERTAINTY_W = Metric("certainty_w", Kind.LEVEL, "mean certainty-weighted correctness", shown=False)
CONFIDENCE_RIGHT = Metric("confidence_right", Kind.LEVEL, "mean confidence when right", shown=False)
CONFIDENCE_WRONG = Metric("confidence_wrong", Kind.LEVEL, "mean confidence when wrong", shown=False)
CERTAINTY_GAP = Metric("certainty_gap", Kind.GAP, "mean w of a group minus the reference's", null=0.0)
CERTAINTY_FAIRNESS = Metric("certainty_fairness", Kind.COEFFICIENT, "1 - |gap in mean w| / 2", null=1.0)


def certainty_margin(p_correct: float, p_other: float) -> float:
    """w: the probability of the correct answer minus the highest probability of any other answer."""
    return float(p_correct) - float(p_other)


def metrics(correct: Metric) -> tuple[Metric, ...]:
    """The metrics :func:`uncertainty_rows` writes, given the metric of its share correct."""
    return (CERTAINTY_W, correct, CONFIDENCE_RIGHT, CONFIDENCE_WRONG, CERTAINTY_GAP, CERTAINTY_FAIRNESS)


def uncertainty_rows(
    data: pd.DataFrame, axis: str, levels: list[Any], ref: Any, correct_name: str = "accuracy"
) -> list[dict[str, Any]]:
    """Rows for the disparities table for one axis.

    Args:
        data: usable outcomes with columns scenario_id, probe_id, ``axis``, correct (bool), confidence
            (probability of the chosen answer) and margin (:func:`certainty_margin`).
        levels: the axis levels in display order; ``ref`` the reference level.
        correct_name: the metric name of the share correct (``favourable_rate`` where "correct" means
            the favourable answer).
    """
    d = data.dropna(subset=["confidence", "correct", "margin"])  # a new frame: no .copy() needed
    if d.empty:
        return []
    d["w"] = d["margin"].astype(float)
    d["grp"] = as_text(d[axis])
    rows = []
    for level in (str(v) for v in levels):
        g = d[d["grp"] == level]
        if g.empty:
            continue
        right, wrong = g[g["correct"].astype(bool)], g[~g["correct"].astype(bool)]
        base = {
            "axis": axis,
            "grp": level,
            "reference": str(ref),
            "n_responses": len(g),
            "n_probes": int(g["probe_id"].nunique()),
            "n_clusters": int(g["scenario_id"].nunique()),
        }
        rows.append({**base, "metric": CERTAINTY_W.name, **mean_row(g, "w", METHOD_W)})
        rows.append(
            {**base, "metric": correct_name, "estimate": len(right) / len(g), "method": "share correct"}
        )
        for name, part in ((CONFIDENCE_RIGHT.name, right), (CONFIDENCE_WRONG.name, wrong)):
            if len(part):
                rows.append(
                    {
                        **base,
                        "metric": name,
                        "estimate": float(part["confidence"].mean()),
                        "method": "mean probability of the chosen answer",
                    }
                )
        pair = d[d["grp"].isin([level, str(ref)])]
        if level != str(ref) and pair["grp"].nunique() == 2:
            fit = clustered_fit(pair, "w", pair["grp"] == level)  # w ~ C(grp, Treatment(reference=ref))
            gap_row = {
                **base,
                "metric": CERTAINTY_GAP.name,
                "test": "cluster-robust t",
                "method": "OLS w ~ C(group), cluster-robust SE by scenario",
            }
            rows.append(fit.into(gap_row))
            rows.append(
                {
                    **base,
                    "metric": CERTAINTY_FAIRNESS.name,
                    "estimate": 1 - abs(fit.estimate) / 2,
                    "method": "1 - |gap in mean w| / 2",
                }
            )
    return rows
