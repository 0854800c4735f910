"""`slant plan` power calculations against direct statsmodels calls and textbook values."""

import math

import pytest
from statsmodels.stats.power import NormalIndPower, TTestPower
from statsmodels.stats.proportion import proportion_effectsize

from slant.cli import main
from slant.stats.power import matched_sets_for_gap, responses_for_rate_gap


def test_matched_sets_match_statsmodels_and_the_textbook_value():
    # effect size 0.5, alpha 0.05, power 0.8, paired t: about 33.4 pairs (Cohen 1988) -> 34
    assert matched_sets_for_gap(0.02, 0.04) == 34
    direct = TTestPower().solve_power(effect_size=0.02 / 0.04, alpha=0.05, power=0.8)
    assert matched_sets_for_gap(0.02, 0.04) == math.ceil(direct)
    assert matched_sets_for_gap(-0.02, 0.04) == 34  # the sign of the gap does not matter


def test_rate_gap_matches_statsmodels():
    h = abs(proportion_effectsize(0.15, 0.10))
    direct = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8, ratio=1.0)
    assert responses_for_rate_gap(0.10, 0.05) == math.ceil(direct) == 681


@pytest.mark.parametrize("args", [(0.0, 0.1), (0.02, 0.0)])
def test_bad_inputs(args):
    with pytest.raises(ValueError):
        matched_sets_for_gap(*args)


def test_plan_command(capsys):
    assert main(["plan", "--gap", "0.02", "--sd", "0.04", "--rate", "0.1", "--rate-gap", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "34 matched sets" in out and "681 responses per group" in out
    with pytest.raises(SystemExit) as e:  # rejected by the argument's type, before any work
        main(["plan", "--gap", "0"])
    assert e.value.code == 2
