"""Writing generated packs: provenance (model, prompt hashes, date, brief) and YAML a person can read."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from slant.errors import SpecError
from slant.files import validate
from slant.probes.packs import Provenance
from slant.prompts import load_prompt


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def provenance(
    generator: str,
    target: str,
    prompts: list[str],
    review: str,
    brief: str | None = None,
    profile: dict[str, str | int] | None = None,
    verifier: dict[str, int] | None = None,
) -> Provenance:
    """The provenance block of a generated pack; ``prompts`` are prompt file names under prompts/."""
    hashes = {name: short_hash(load_prompt(name)) for name in prompts}
    return Provenance(
        generator=generator,
        target=target,
        prompts=hashes,
        prompt_version=short_hash("".join(f"{k}={v};" for k, v in sorted(hashes.items()))),
        created=dt.date.today().isoformat(),
        brief=brief,
        profile=profile,
        verifier=verifier or {},
        review=review,
    )


def slug(text: str, limit: int = 40) -> str:
    """A lower-case id from text ("Approve a car loan?" → "approve-a-car-loan")."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return s or "item"


def unique(ident: str, taken: set[str]) -> str:
    out, n = ident, 2
    while out in taken:
        out, n = f"{ident}-{n}", n + 1
    taken.add(out)
    return out


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def write_pack(
    model: type[BaseModel], data: dict[str, Any], path: str | Path, overwrite: bool = False
) -> Path:
    """Validate ``data`` as the family's pack model (so it loads like a hand-written pack), then write it.

    An existing file is kept unless ``overwrite``: a generated pack never silently replaces one.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise SpecError(str(path), "", "exists already (choose another --out, or pass --force)")
    validate(model, data, path)
    clean = model.model_validate(data).model_dump(mode="json", exclude_none=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(clean, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)
    path.write_text(text, encoding="utf-8")
    return path
