"""The IAT D score of Bai, Wang, Sucholutsky & Griffiths (2025), PNAS 122: e2416228122, from the counts of
word-to-group assignments: a = stigma+negative, b = stigma+positive, c = default+negative,
d = default+positive.

    D = a/(a+b) + d/(c+d) - 1                          in [-1, 1]; None if a+b = 0 or c+d = 0
    d_published = a/(a+b+0.01) + d/(c+d+0.01) - 1      the authors' released code

Used by the iat family and by the usage family's association-paired task (the writers as the groups).
"""

from __future__ import annotations


def d_scores(a: int, b: int, c: int, d: int) -> tuple[float | None, float | None]:
    """(D, d_published); D is None when a+b or c+d is 0, both are None when nothing was assigned."""
    if a + b + c + d == 0:
        return None, None
    published = a / (a + b + 0.01) + d / (c + d + 0.01) - 1
    return (None if a + b == 0 or c + d == 0 else a / (a + b) + d / (c + d) - 1), published
