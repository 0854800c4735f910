"""Agents built with langgraph: preference inference (PROSE and its baselines)."""

from slant.agents.components import Component, Evidence, Profile, Sample
from slant.agents.preference import PreferenceConfig, build_graph
from slant.agents.session import PreferenceSession, load_profile

__all__ = [
    "Component",
    "Evidence",
    "PreferenceConfig",
    "PreferenceSession",
    "Profile",
    "Sample",
    "build_graph",
    "load_profile",
]
