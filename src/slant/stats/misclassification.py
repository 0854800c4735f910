"""Rates corrected for the refusal detector's own error (Rogan & Gladen 1978).

A detector with sensitivity Se and specificity Sp turns a true rate π into an apparent rate
``a = Se·π + (1 − Sp)·(1 − π)``, so the corrected rate is ``π = (a + Sp − 1) / (Se + Sp − 1)``,
clipped to [0, 1]. A gap between two groups labelled by the same detector is ``(a₁ − a₂) / (Se + Sp − 1)``
(Sp cancels). Se and Sp are themselves estimates from a labelled evaluation, so the interval carries
three sources of uncertainty: Monte Carlo draws from the Jeffreys posteriors Beta(x + ½, n − x + ½) of the
apparent rate(s), of Se and of Sp (the same Se/Sp draw for both groups of a gap: one detector), the
corrected value computed per draw, and the 2.5/97.5 percentiles taken. A detector no better than chance
(Se + Sp ≤ 1) cannot correct anything: the estimate is None.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

DRAWS = 20_000
METHOD = (
    "Rogan-Gladen corrected for the detector's sensitivity/specificity; 95% interval from "
    f"{DRAWS} Monte Carlo draws of the Jeffreys posteriors of the rate(s), Se and Sp"
)


@dataclass(frozen=True)
class DetectorError:
    """A detector's measured confusion counts for one binary label (e.g. "full refusal")."""

    true_pos: int
    false_neg: int
    true_neg: int
    false_pos: int
    source: str  # where the counts were measured (the evaluation data)

    @property
    def sensitivity(self) -> float:
        return self.true_pos / (self.true_pos + self.false_neg)

    @property
    def specificity(self) -> float:
        return self.true_neg / (self.true_neg + self.false_pos)

    def draws(self, rng: np.random.Generator, n: int = DRAWS) -> tuple[np.ndarray, np.ndarray]:
        """(Se, Sp) draws from their Jeffreys posteriors."""
        se = rng.beta(self.true_pos + 0.5, self.false_neg + 0.5, n)
        sp = rng.beta(self.true_neg + 0.5, self.false_pos + 0.5, n)
        return se, sp


def _seeded(detector: DetectorError, seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """A generator seeded with ``seed`` that has drawn the detector's (Se, Sp), with those draws: the
    same for every rate and gap of a run, so they are drawn once (:func:`_first_draws`)."""
    se, sp, state = _first_draws(detector, seed)
    rng = np.random.default_rng(seed)
    rng.bit_generator.state = state  # where it stands after drawing them: the next draws follow as ever
    return rng, se, sp


@functools.lru_cache(maxsize=16)
def _first_draws(detector: DetectorError, seed: int) -> tuple[np.ndarray, np.ndarray, Mapping[str, Any]]:
    rng = np.random.default_rng(seed)
    se, sp = detector.draws(rng)
    se.flags.writeable = sp.flags.writeable = False  # shared between calls
    return se, sp, rng.bit_generator.state


def _apparent(k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.beta(k + 0.5, n - k + 0.5, DRAWS)


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if values.size < DRAWS // 2:  # most draws had Se + Sp <= 1: no interval worth stating
        return None, None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _corrected(apparent: float | np.ndarray, se: float | np.ndarray, sp: float | np.ndarray) -> np.ndarray:
    """Rogan-Gladen, clipped to [0, 1]; NaN where Se + Sp <= 1 (a detector no better than chance)."""
    j = np.asarray(se + sp - 1, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(j > 0, np.clip((apparent + sp - 1) / j, 0, 1), np.nan)


def _point(value: np.ndarray) -> float | None:
    return float(value) if np.isfinite(value) else None


def corrected_rate(
    k: int, n: int, detector: DetectorError, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """(estimate, ci_low, ci_high) of the true rate behind ``k`` detections in ``n`` replies."""
    if n <= 0:
        return None, None, None
    estimate = _point(_corrected(k / n, detector.sensitivity, detector.specificity))
    rng, se, sp = _seeded(detector, seed)
    return (estimate, *_interval(_corrected(_apparent(k, n, rng), se, sp)))


def corrected_gap(
    k1: int, n1: int, k2: int, n2: int, detector: DetectorError, seed: int = 0
) -> tuple[float | None, float | None, float | None]:
    """(estimate, ci_low, ci_high) of the true rate gap group 1 − group 2, both labelled by ``detector``
    (each corrected rate clipped to [0, 1] before the difference)."""
    if n1 <= 0 or n2 <= 0:
        return None, None, None
    se0, sp0 = detector.sensitivity, detector.specificity
    estimate = _point(_corrected(k1 / n1, se0, sp0) - _corrected(k2 / n2, se0, sp0))
    rng, se, sp = _seeded(detector, seed)
    a1, a2 = _apparent(k1, n1, rng), _apparent(k2, n2, rng)
    return (estimate, *_interval(_corrected(a1, se, sp) - _corrected(a2, se, sp)))


def rate_fields(k: int, n: int, detector: DetectorError | None) -> dict[str, Any]:
    """The corrected rate of ``k`` detections in ``n`` replies as row fields (kept in a row's ``extra``)
    beside the raw rate; nothing without a measured detector."""
    if detector is None or n <= 0:
        return {}
    return _fields(corrected_rate(k, n, detector), detector)


def gap_fields(k1: int, n1: int, k2: int, n2: int, detector: DetectorError | None) -> dict[str, Any]:
    """The corrected gap (group 1 − group 2) as row fields, like :func:`rate_fields`."""
    if detector is None or n1 <= 0 or n2 <= 0:
        return {}
    return _fields(corrected_gap(k1, n1, k2, n2, detector), detector)


def _fields(
    corrected: tuple[float | None, float | None, float | None], detector: DetectorError
) -> dict[str, Any]:
    est, lo, hi = corrected
    return {"corrected": est, "corrected_ci_low": lo, "corrected_ci_high": hi, **_detector(detector)}


def _detector(detector: DetectorError) -> dict[str, Any]:
    return {
        "detector_sensitivity": round(detector.sensitivity, 4),
        "detector_specificity": round(detector.specificity, 4),
        "detector_source": detector.source,
        "corrected_method": METHOD,
    }
