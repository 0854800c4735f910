"""Disparity statistics on stored outcomes (statsmodels/scipy; nothing hand-rolled), written once and
called by every family:

- :mod:`~slant.stats.metric`: what a metric and a row are; :mod:`~slant.stats.rows`: a row's skeleton;
- :mod:`~slant.stats.groups`: group levels and gaps with CIs clustered by scenario, outcome counts;
- :mod:`~slant.stats.rates`: Wilson rates, the exact binomial test, position consistency;
- :mod:`~slant.stats.means`: one-sample t, paired t over cluster means;
- :mod:`~slant.stats.paired`: matched-set gaps (bootstrap, McNemar, Cochran's Q), effect sizes, BH;
- :mod:`~slant.stats.rank`: Kendall's τ-c with its cluster bootstrap;
- :mod:`~slant.stats.dscore`: the IAT D score; :mod:`~slant.stats.mixed`: discrimination scores;
- :mod:`~slant.stats.misclassification`: refusal rates corrected for the detector's error;
- :mod:`~slant.stats.uncertainty`: uncertainty-aware fairness; :mod:`~slant.stats.power`: sample sizes;
- :mod:`~slant.stats.degenerate` and :mod:`~slant.stats.numerics`: what cannot be tested, and warnings.
"""

from slant.stats.groups import group_disparities

__all__ = ["group_disparities"]
