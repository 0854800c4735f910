"""One statistic computed in a forked child process while the caller computes the others.

A decision set's mixed model (statsmodels' MixedLM: about half of its statistics time, and their memory
peak at scale) runs beside its other statistics where the machine has a second core. The child is a fork
of this process: it shares every loaded module, computes ``fn(*args)`` on a pickled copy of the
arguments and sends back the value (rows and warning notes), so the numbers are those of an inline
call. Elsewhere than on Linux, on one core, or when the child dies, the call runs inline; so does a call
on more than :data:`MAX_FORKED_ROWS` rows: the child's own memory grows with its data (at 100,000 rows
the two processes together held ~90 MiB more than the inline call), and at that scale the time it saves
is small beside the run's.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
MAX_FORKED_ROWS = 20_000  # a call on more rows runs inline (memory over speed)


def started(fn: Callable[..., T], *args: Any, rows: int = 0) -> Callable[[], T]:
    """``fn(*args)`` started in a forked child where it can run beside the caller (``rows``: the rows of
    data it is given, at most :data:`MAX_FORKED_ROWS`); call the returned function for its value (an
    exception ``fn`` raises is raised there). ``fn`` must be a module-level function and its value
    picklable."""
    if rows > MAX_FORKED_ROWS or not _second_core():
        return lambda: fn(*args)
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    future = pool.submit(fn, *args)
    pool.shutdown(wait=False)  # the child exits once it has sent the value

    def value() -> T:
        try:
            return future.result()
        except BrokenProcessPool:  # the child died (killed, out of memory): compute it here
            return fn(*args)

    return value


def _second_core() -> bool:
    # Linux only: macOS has fork, but its system BLAS (Accelerate) is not safe to use in a forked child
    return sys.platform == "linux" and len(os.sched_getaffinity(0)) > 1
