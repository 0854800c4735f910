"""slant: audit large language models for preference and bias.

The public API is this short list; everything else may change.
"""

from slant.agents import PreferenceConfig, PreferenceSession, Profile
from slant.api import AuditResult, audit, open_db
from slant.spec import Campaign, load_campaign

__version__ = "0.1.0"
__all__ = [
    "AuditResult",
    "Campaign",
    "PreferenceConfig",
    "PreferenceSession",
    "Profile",
    "audit",
    "load_campaign",
    "open_db",
    "__version__",
]
