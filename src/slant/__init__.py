"""slant: audit large language models for preference and bias.

The public API is this short list; everything else may change. Names are imported on first use, so
the command line does not pay for the agents' langgraph import when it does not need them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
_EXPORTS = {
    "AuditResult": "slant.api",
    "audit": "slant.api",
    "open_db": "slant.api",
    "Campaign": "slant.spec",
    "load_campaign": "slant.spec",
    "PreferenceConfig": "slant.agents",
    "PreferenceSession": "slant.agents",
    "Profile": "slant.agents",
}
__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'slant' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
