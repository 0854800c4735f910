"""The ``slant`` command's entry point (slant.__main__.run): its process does without formulaic, which
statsmodels would import only to parse formulas, and still fits statsmodels' models."""

import subprocess
import sys

CODE = """
import sys
sys.argv = ["slant", "--version"]
from slant.__main__ import run
try:
    run()
except SystemExit as e:
    assert e.code in (0, None), e.code
import numpy as np
import statsmodels.formula._manager as formulas
from statsmodels.regression.linear_model import OLS
x = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
print(sys.modules["formulaic"], formulas.HAVE_FORMULAIC, formulas.HAVE_PATSY)
print(OLS([1.0, 3.0, 5.0, 7.0], x).fit().params.round(9).tolist())
"""


def test_the_command_runs_without_formulaic_and_fits_models():
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["None False True", "[1.0, 2.0]"]
