"""slant.stats.text.as_text: the same texts, dtype and index as ``astype(str)``; an integer column's
equal values share one text object."""

import numpy as np
import pandas as pd
import pytest

from slant.stats.text import as_text

COLUMNS = [
    pd.Series([30, 45, 30, 80], index=[7, 3, 5, 1], name="age"),
    pd.Series(np.array([2**63 + 5, 7], dtype="uint64")),
    pd.Series([18, None, 40], dtype="Int64"),  # nullable: not NumPy, converted by astype
    pd.Series([1.0, np.nan, -0.0]),
    pd.Series(["female", None, "male"]),
    pd.Series([1, "1", 1.0], dtype=object),
    pd.Series([], dtype="int64"),
]


@pytest.mark.parametrize("values", COLUMNS, ids=lambda s: str(s.dtype))
def test_as_text_equals_astype_str(values):
    got, want = as_text(values), values.astype(str)
    assert got.dtype == want.dtype
    pd.testing.assert_series_equal(got, want)


def test_equal_integers_share_one_text():
    texts = as_text(pd.Series([30, 45, 30]))
    assert texts.iloc[0] is texts.iloc[2]
    assert texts.tolist() == ["30", "45", "30"]
