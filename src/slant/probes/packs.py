"""Probe packs (YAML files of scenarios, statements, items …): finding, validating, unique ids.

Every family's probe-set spec names its packs as paths or globs relative to the campaign file
(``PackPaths``); ``load_packs`` reads them with one-line errors naming the file and the field.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from slant.errors import SpecError
from slant.files import read_yaml, validate

M = TypeVar("M", bound=BaseModel)

# The packs and example campaigns slant ships: package data, so that a wheel carries them (an installed
# package is a folder on disk; the repository's top-level ``scenarios`` is a link to it).
SCENARIOS_DIR = Path(str(files("slant").joinpath("scenarios")))


class Provenance(BaseModel):
    """How a generated pack was made (``slant generate``): model, prompts, date, brief, review."""

    model_config = ConfigDict(extra="forbid")
    generator: str = Field(description="the command or agent that wrote the pack")
    target: str = Field(description="the model that drafted the content")
    prompts: dict[str, str] = Field(description="prompt file → short hash of its text")
    prompt_version: str = Field(description="short hash of all the prompts together")
    created: str = Field(description="date the pack was written (ISO 8601)")
    brief: str | None = Field(None, description="what the generator was asked for")
    profile: dict[str, str | int] | None = Field(
        None, description="the preference profile used (user, version)"
    )
    verifier: dict[str, int] = Field({}, description="drafts, survivors and rejections per verifier rule")
    review: str = Field(description="how the survivors were approved (human review, or --yes)")


class PackHeader(BaseModel):
    """What every pack file starts with: its id, what it holds, and where its content comes from."""

    model_config = ConfigDict(extra="forbid")
    pack: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="id of the pack")
    description: str = Field(description="what the pack holds")
    source: str = Field(description="where its content comes from (papers, or written for slant)")
    provenance: Provenance | None = Field(None, description="for generated packs: how they were made")


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


PackPaths = Annotated[list[str], BeforeValidator(_listify), Field(min_length=1)]
"""One path or glob, or a list of them (a campaign field)."""


def pack_files(patterns: list[str], base: Path, where: str, field: str) -> list[Path]:
    """The files the patterns name, in order; a pattern that matches nothing is an error."""
    files: list[Path] = []
    for i, pattern in enumerate(patterns):
        found = (
            [Path(f) for f in sorted(glob.glob(str(base / pattern)))]
            if glob.has_magic(pattern)
            else [base / pattern]
        )
        if not found:
            raise SpecError(where, f"{field}[{i}]", f"no file matches {pattern!r}")
        files += found
    return files


def shipped_or_file(pack: str | Path, folder: Path, prefix: str = "") -> Path:
    """The pack file ``pack`` names: a path, else a shipped pack in ``folder`` by its file name (with
    ``prefix`` dropped, so "black" and "bai2025-black" both name black.yaml); SpecError if neither."""
    path = Path(pack)
    shipped = folder / f"{str(pack).removeprefix(prefix)}.yaml"
    if not path.exists() and shipped.exists():
        path = shipped
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise SpecError(str(pack), "pack", f"no such file or shipped pack (shipped: {names})")
    return path


@dataclass(frozen=True)
class Ids:
    """Ids that must be unique: the ``key`` of each item of the pack list ``items`` (None: of the pack
    itself), across all packs or, with ``within``, within each pack. ``label`` names them in errors
    ("duplicate pair id 't-one'")."""

    items: str | None
    key: str = "id"
    within: bool = False
    label: str = "id"


def load_packs(
    model: type[M],
    patterns: list[str],
    base: Path,
    where: str,
    field: str,
    unique: tuple[Ids, ...] = (),
    check: Callable[[M, Path], None] | None = None,
) -> list[tuple[M, Path]]:
    """Validated packs with their paths, in order; every id of ``unique`` checked, then ``check`` (which
    raises a SpecError for what a family needs beyond its model), pack by pack.

    Args:
        model: the pack's pydantic model.
        patterns: the campaign field's paths or globs; ``field`` its name (for errors).
    """
    seen: dict[Ids, dict[Any, Path]] = {ids: {} for ids in unique}
    out = []
    for path in pack_files(patterns, base, where, field):
        pack = validate(model, read_yaml(path), path)
        for ids in unique:
            check_unique(pack, path, ids, {} if ids.within else seen[ids])
        if check is not None:
            check(pack, path)
        out.append((pack, path))
    return out


def check_unique(pack: BaseModel, path: Path, ids: Ids, seen: dict[Any, Path]) -> None:
    """Raise on the first id of ``ids`` in ``pack`` already in ``seen`` (which it fills)."""
    for j, item in enumerate(getattr(pack, ids.items) if ids.items else [pack]):
        ident = getattr(item, ids.key)
        if ident in seen:
            at = f"{ids.items}[{j}].{ids.key}" if ids.items else ids.key
            also = "" if ids.within else f" (also in {seen[ident]})"
            raise SpecError(str(path), at, f"duplicate {ids.label} {ident!r}{also}")
        seen[ident] = path


def load_items(
    model: type[M], patterns: list[str], base: Path, where: str, field: str, items: str
) -> list[Any]:
    """Just the items of all packs, their ids unique across packs."""
    loaded = load_packs(model, patterns, base, where, field, (Ids(items),))
    return [item for pack, _ in loaded for item in getattr(pack, items)]
