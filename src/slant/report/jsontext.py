"""JSON for reports: strict JSON (RFC 8259), so every reader can parse it."""

from __future__ import annotations

import json
import math
from typing import Any


def to_json(value: Any) -> str:
    """Indented JSON; a non-finite number (NaN, ±Infinity, not JSON) becomes null, other objects str."""
    return json.dumps(_finite(value), indent=2, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
