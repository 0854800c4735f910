"""slant.stats.background: a statistic computed in a forked child gives the inline value, raises what the
function raises, and is computed here when the child dies."""

import math
import os

import pytest

from slant.stats import background

PARENT = os.getpid()


def dies_in_a_child(x: float) -> float:
    """Kills the process it runs in unless that is the test's own (so only a forked child dies)."""
    if os.getpid() != PARENT:
        os._exit(1)
    return x * 2


def test_the_value_is_the_inline_value():
    assert background.started(math.fsum, [0.1] * 10)() == math.fsum([0.1] * 10)
    assert background.started(sorted, [3, 1, 2])() == [1, 2, 3]


def test_an_exception_in_the_function_is_raised_by_the_value():
    value = background.started(math.sqrt, -1.0)
    with pytest.raises(ValueError, match="math domain error"):
        value()


@pytest.mark.skipif(not background._second_core(), reason="runs inline: no fork or one core")
def test_a_dead_child_is_computed_here():
    assert background.started(dies_in_a_child, 21.0)() == 42.0


@pytest.mark.skipif(not background._second_core(), reason="runs inline: no fork or one core")
def test_a_call_on_many_rows_runs_inline():
    assert background.started(os.getpid, rows=background.MAX_FORKED_ROWS)() != PARENT  # forked
    assert background.started(os.getpid, rows=background.MAX_FORKED_ROWS + 1)() == PARENT  # here
