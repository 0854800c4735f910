"""Reports of stored runs, all built from one summary of the database (``summary``): the terminal
tables, Markdown, JSON and HTML."""

from slant.report.html import html_report
from slant.report.markdown import markdown
from slant.report.summary import latest_run, summary
from slant.report.terminal import print_report

__all__ = ["html_report", "latest_run", "markdown", "print_report", "summary"]
