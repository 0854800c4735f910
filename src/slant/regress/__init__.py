"""Regression audits: baselines, diffs between runs, gates, scheduled audits and history."""
