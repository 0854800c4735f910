"""Model backends behind one interface; ``resolve_target`` turns a ``provider/model`` name into one.

Names: ``local`` (the embedded model), ``openai/<model>`` (hosted; OPENAI_API_KEY, OPENAI_BASE_URL),
``vllm/<served-name>`` (a vLLM server; VLLM_BASE_URL, VLLM_API_KEY), ``vllm-engine/<model>`` (vLLM in
this process; the ``vllm`` extra and a GPU), ``openai-compat/<model>`` (any
OpenAI-compatible URL given as ``base_url``, e.g. a llama.cpp server; OPENAI_API_KEY if it needs one).
A comma-separated ``base_url`` names replicas of one model, balanced by load (``ReplicaTarget``).
Variables may also come from a ``.env`` file in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from dotenv import load_dotenv

from slant.errors import SlantError
from slant.targets.base import Reply, Request, Target, TargetError
from slant.targets.local import LocalServer, LocalTarget
from slant.targets.openai_compat import HOSTED_NO_ECHO, OpenAICompatTarget, PrefillMode, is_hosted
from slant.targets.replicas import ReplicaTarget
from slant.targets.vllm_engine import VLLMEngineTarget

__all__ = [
    "LocalServer",
    "LocalTarget",
    "OpenAICompatTarget",
    "ReplicaTarget",
    "VLLMEngineTarget",
    "Reply",
    "Request",
    "Target",
    "TargetError",
    "loglikelihood_unsupported",
    "resolve_target",
]

_DEFAULT_PREFILL: dict[str, PrefillMode] = {"openai": "none", "vllm": "continue", "openai-compat": "none"}


def resolve_target(
    name: str, base_url: str | None = None, prefill: str = "auto", timeout: float = 60.0
) -> Target:
    """Build the target a campaign or ``--target`` names. Raises SlantError for unknown names."""
    load_dotenv(Path.cwd() / ".env", override=False)
    if name == "local":
        return LocalTarget(timeout=timeout)
    if name.startswith("vllm-engine/") and name.partition("/")[2]:
        return VLLMEngineTarget(name.partition("/")[2])
    provider, _, model = name.partition("/")
    if provider not in _DEFAULT_PREFILL or not model:
        raise SlantError(
            f"unknown target {name!r}: use local, openai/<model>, vllm/<model>, vllm-engine/<model> or "
            "openai-compat/<model>"
        )
    if provider == "vllm":
        base_url = base_url or os.environ.get("VLLM_BASE_URL")
        key = os.environ.get("VLLM_API_KEY")
    else:
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        key = os.environ.get("OPENAI_API_KEY")
    if provider != "openai" and not base_url:
        env = "VLLM_BASE_URL" if provider == "vllm" else "OPENAI_BASE_URL"
        raise SlantError(f"target {name!r} needs a base_url (campaign field 'base_url', --base-url or {env})")
    if provider == "openai" and not key and not base_url:
        raise SlantError("target 'openai/…' needs OPENAI_API_KEY (environment or .env)")
    mode = _DEFAULT_PREFILL[provider] if prefill == "auto" else prefill
    urls: list[str | None] = [u.strip() for u in (base_url or "").split(",") if u.strip()] or [None]
    replicas = [OpenAICompatTarget(name, model, u, key, prefill=mode, timeout=timeout) for u in urls]  # type: ignore[arg-type]
    return replicas[0] if len(replicas) == 1 else ReplicaTarget(replicas)


def loglikelihood_unsupported(target: Target) -> str | None:
    """Why ``target`` cannot score log-likelihood requests (None: it can, or it will say so per call).
    Completions servers that echo prompt log-probabilities can (llama.cpp, vLLM, the embedded model);
    the hosted OpenAI API cannot."""
    first = target.replicas[0] if isinstance(target, ReplicaTarget) else target
    if isinstance(first, OpenAICompatTarget) and not isinstance(first, LocalTarget):
        return HOSTED_NO_ECHO if is_hosted(first.base_url) else None
    return None
