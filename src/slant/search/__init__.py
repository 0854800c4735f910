"""Search for where a model's bias shows, and confirm it on probes the search never saw.

:class:`BiasSearch` (``slant search``) runs the langgraph graph of :mod:`slant.search.graph` over a
campaign's decision scenarios; :func:`search_report` (``slant search-report``) rebuilds its report
from the database.
"""

from slant.search.graph import SearchConfig
from slant.search.report import search_report
from slant.search.session import BiasSearch, SearchResult

__all__ = ["BiasSearch", "SearchConfig", "SearchResult", "search_report"]
