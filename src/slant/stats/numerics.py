"""Numerical warnings (statsmodels' ConvergenceWarning, numpy's RuntimeWarning, …) are facts about an
estimate, not lines on stderr: they are caught where a model is fitted and written into the ``method`` of
the rows they concern ("numerical warning: RuntimeWarning: invalid value encountered in sqrt").

statsmodels computes standard errors, CIs and p lazily, so everything read from a fit must happen
inside :func:`captured`. :func:`recorded` wraps a whole estimator (a function returning one row or a
list of rows) the same way; scoring wraps every family's ``disparities`` with it, so a warning that an
estimator did not catch itself still ends up in the rows, never on stderr.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
NOTE = "numerical warning"  # how a row's method says a warning was caught (reports look for it)


def finite(x: Any) -> float | None:
    """``x`` as a float, or None when it is missing, NaN or infinite."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


@contextmanager
def captured() -> Iterator[list[str]]:
    """Warnings raised inside the block, recorded instead of shown; the list is filled when it ends,
    one short text per distinct warning ("ConvergenceWarning: …"). A ResourceWarning is not about the
    numbers: the garbage collector raises it wherever it happens to run (an unclosed event loop of an
    earlier call), so it is left to Python's default handling, never written into a method."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notes
    for w in caught:
        if issubclass(w.category, ResourceWarning):
            continue
        message = str(w.message).strip()
        text = f"{w.category.__name__}: {message.splitlines()[0] if message else ''}".rstrip(": ")
        if text not in notes:
            notes.append(text)


def note(method: str | None, notes: list[str] | tuple[str, ...]) -> str | None:
    """``method`` with the caught warnings appended (unchanged when there are none)."""
    if not notes:
        return method
    text = f"{NOTE}: " + "; ".join(notes)
    return f"{method}; {text}" if method else text


def annotate(result: T, notes: list[str]) -> T:
    """A row, or each row of a list, with ``notes`` in its method."""
    if not notes:
        return result
    if isinstance(result, dict):
        return {**result, "method": note(result.get("method"), notes)}  # type: ignore[return-value]
    if isinstance(result, list):
        return [annotate(r, notes) for r in result]  # type: ignore[return-value]
    return result


def recorded(estimator: Callable[..., T]) -> Callable[..., T]:
    """``estimator`` with the warnings it raises written into the method of the row(s) it returns."""

    @functools.wraps(estimator)
    def run(*args: Any, **kwargs: Any) -> T:
        with captured() as notes:
            result = estimator(*args, **kwargs)
        return annotate(result, notes)

    return run
