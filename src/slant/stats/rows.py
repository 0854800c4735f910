"""The row every estimator writes, one per comparison: the columns of the ``disparities`` table that an
estimator fills (the run, family and probe set are added when rows are stored; ``p_adj`` after
Benjamini-Hochberg). Keys outside :data:`COLUMNS` are stored in the row's ``extra``.
"""

from __future__ import annotations

from typing import Any

KEY = ("cue", "metric", "axis", "grp", "reference")  # with the run and probe set, what a row is about
NUMBERS = ("estimate", "ci_low", "ci_high", "test", "p")
COUNTS = ("n_responses", "n_probes", "n_clusters", "n_refused", "n_unparsed")
COLUMNS = (*KEY, *NUMBERS, *COUNTS, "method")


def untested(metric: str, **fields: Any) -> dict[str, Any]:
    """A row of ``metric`` with no estimate, CI, test or p yet; ``fields`` set the rest (or override)."""
    return {"metric": metric, **dict.fromkeys(NUMBERS), **fields}
