"""The library's facade: ``audit()`` (campaign file → probes → engine → outcomes → disparities, all
stored in one database; see :mod:`slant.pipeline`), its result, planning without model calls, and the
database."""

from __future__ import annotations

from slant.pipeline import AuditResult, audit
from slant.plan import plan
from slant.store import open_db

__all__ = ["AuditResult", "audit", "open_db", "plan"]
