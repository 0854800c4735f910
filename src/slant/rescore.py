"""A family's published scoring applied to replies collected elsewhere (``slant score FAMILY``).

Each family that can score a bare reply registers a :class:`Rescorer` here: how to load what it scores
against (``--pack``: a pack file or a shipped pack's name) and how to score one reply into JSON-ready
fields. :func:`score_file` reads a JSONL or CSV file (one reply per row, in ``field``) with the same
reader as ``slant refusals`` and yields each row with the score's fields added under ``score``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slant.detect.refusal_io import read_rows
from slant.errors import SpecError


@dataclass(frozen=True)
class Rescorer:
    """One family's scoring of a bare reply: ``load`` turns ``--pack`` into what ``score`` needs."""

    family: str
    load: Callable[[str], Any]
    score: Callable[[str, Any], Mapping[str, Any]]
    describe: str


def _iat() -> Rescorer:
    from slant.probes.iat import load_pack, score_iat_reply

    return Rescorer(
        "iat",
        load_pack,
        lambda reply, pack: score_iat_reply(reply, pack).as_dict(),
        "LLM word association (Bai et al. 2025): counts a-d, D, D_published, pairs read, lines skipped",
    )


RESCORERS: dict[str, Callable[[], Rescorer]] = {"iat": _iat}  # family → its rescorer, built on first use
RESCORE_FAMILIES = tuple(RESCORERS)


def score_file(family: str, path: str | Path, pack: str, field: str = "reply") -> Iterator[dict[str, Any]]:
    """The rows of a .jsonl or .csv file, each with ``score`` (the family's published scoring of the
    row's ``field``) added; the file and the pack are read, and bad input refused, at the call.

    Args:
        family: one of :data:`RESCORE_FAMILIES` ("iat").
        path: a JSONL file (one object per line) or a CSV file with a header.
        pack: what the replies answered: a pack file or a shipped pack's name ("weight").
        field: the field/column holding the reply text.
    """
    if family not in RESCORERS:
        raise SpecError(family, "family", f"no scorer for this family; use {' or '.join(RESCORE_FAMILIES)}")
    rescorer = RESCORERS[family]()
    loaded = rescorer.load(pack)
    rows = read_rows(Path(path), field)
    return ({**row, "score": dict(rescorer.score(row[field], loaded))} for row in rows)
