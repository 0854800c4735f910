"""What an estimate is: each metric is declared once, where it is written, with its kind and null value.

Reports and ``slant diff`` read these declarations (through :func:`slant.probes.family.metric_of`), so a
new metric is drawn, formatted and compared across runs without an edit anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypedDict


class Kind(StrEnum):
    """What an estimate measures. Levels and rates describe one group (never drawn as "vs"); the others
    compare a group with its reference or test across groups."""

    LEVEL = "level"  # one group's mean or score, shown as a number
    RATE = "rate"  # one group's share of outcomes, shown as a percentage
    GAP = "gap"  # a group minus its reference, on the scale of a level or rate
    COEFFICIENT = "coefficient"  # a model coefficient or association score (discrimination score, D, τ-c)
    STATISTIC = "statistic"  # a test statistic across groups (Cochran's Q)


@dataclass(frozen=True)
class Metric:
    """One metric of the ``disparities`` table.

    ``null``: the value meaning "no effect" (0 for gaps, 0.5 for a rate against chance; None when no
    value is); charts draw it as their reference line. ``shown``: whether report tables and charts show
    it (the database and the HTML report's full table always do). ``chart``: a forest of tested
    estimates, or bars of every estimate (rates that describe how the model answered). ``diff``: the
    per-probe outcome ``slant diff`` recomputes it from (``value``, ``refused`` or ``unparsed``), so
    its change between runs is tested; None: compared as numbers only.
    """

    name: str
    kind: Kind
    title: str
    null: float | None = None
    shown: bool = True
    chart: Literal["forest", "bars"] = "forest"
    diff: Literal["value", "refused", "unparsed"] | None = None

    @property
    def is_level(self) -> bool:
        """Whether it describes one group rather than comparing it with another."""
        return self.kind in (Kind.LEVEL, Kind.RATE)


class DisparityRow(TypedDict, total=False):
    """A row an estimator writes (``disparities`` adds run, family and probe set; keys beyond these go
    to the row's ``extra``)."""

    cue: str
    metric: str
    axis: str
    grp: str
    reference: str | None
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    test: str | None
    p: float | None
    n_responses: int
    n_probes: int
    n_clusters: int
    n_refused: int
    n_unparsed: int
    method: str | None


ROW_KEYS = frozenset(DisparityRow.__annotations__)  # the keys of a complete row
