"""The skeleton every estimator starts its row from (its keys: :class:`slant.stats.metric.DisparityRow`)."""

from __future__ import annotations

from typing import Any

NUMBERS = ("estimate", "ci_low", "ci_high", "test", "p")  # what an estimator fills in, None until it does


def untested(metric: str, **fields: Any) -> dict[str, Any]:
    """A row of ``metric`` with no estimate, CI, test or p yet; ``fields`` set the rest (or override)."""
    return {"metric": metric, **dict.fromkeys(NUMBERS), **fields}
