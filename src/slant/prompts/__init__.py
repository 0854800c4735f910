"""Prompt files: every text slant sends lives in this package's folder and is loaded from here.

The files are package data (read through ``importlib.resources``), so a wheel or any non-editable
install carries them; the repository's top-level ``prompts`` is a link to this folder.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

PROMPTS: Traversable = files(__name__)


@cache
def load_prompt(name: str) -> str:
    """The text of ``prompts/<name>`` without its trailing newline."""
    return PROMPTS.joinpath(*name.split("/")).read_text(encoding="utf-8").rstrip("\n")


def available(folder: str) -> list[str]:
    """Names (without extension) of the prompt files in ``prompts/<folder>``."""
    names = (p.name for p in PROMPTS.joinpath(folder).iterdir())
    return sorted(n.removesuffix(".md") for n in names if n.endswith(".md"))
