"""Reading input files with one-line errors that name the file and the field."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

from slant.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def read_text(path: Path) -> str:
    """A UTF-8 text file's content; a missing or undecodable file raises SpecError naming it."""
    if not path.is_file():
        raise SpecError(str(path), "", "file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError(str(path), "", "not UTF-8 text") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (the last would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool):
                continue  # an unhashable key is the base loader's error to report
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSONL file with their line numbers (blank lines skipped); a line that is not
    a JSON object raises SpecError naming the file and the line."""
    rows = []
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SpecError(str(path), f"line {n}", f"not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise SpecError(str(path), f"line {n}", "expected a JSON object")
        rows.append((n, row))
    return rows


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; any problem (a key given twice too) becomes a SpecError naming the file."""
    text = read_text(path)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(str(path), "", f"not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    except RecursionError:  # the parser recurses once per level: "[[[[…" thousands deep
        raise SpecError(str(path), "", "not valid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise SpecError(str(path), "", "expected a YAML mapping at the top level")
    return data


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('probes', 0, 'demographics', 'age')`` → ``probes[0].demographics.age``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(model: type[M], data: Any, file: Path | str, tags: Collection[str] = ()) -> M:
    """Validate data against a pydantic model, reporting the first problem as a SpecError.

    ``tags`` are the tags of discriminated unions in the model (probe family names): pydantic puts them
    in error locations, users never write them, so they are left out of the field path.
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err, member = _chosen_member(e.errors())
        loc = tuple(
            p
            for i, p in enumerate(err["loc"])
            if i != member
            and not (
                isinstance(p, str)
                and (p.startswith("function-") or (p in tags and isinstance(err["loc"][i - 1], int)))
            )
        )
        msg = err["msg"]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):  # e.g. an unknown probe family
            tag = err["ctx"]["discriminator"].strip("'")
            loc += (tag,)
            if err["type"] == "union_tag_invalid":
                msg = f"unknown {tag} {err['ctx']['tag']!r} (known: {err['ctx']['expected_tags']})"
        raise SpecError(str(file), field_path(loc), msg) from None


def _is_member_label(part: int | str) -> bool:
    """How pydantic names a union member in an error location (``literal['logprobs']``, ``Sampled``,
    ``str``), as opposed to a field name (lower_snake_case, or with hyphens: ``anti-stereotype``) or a
    list index."""
    return isinstance(part, str) and (
        "[" in part or part[:1].isupper() or part in ("str", "int", "float", "bool", "none")
    )


def _chosen_member(errors: list[Any]) -> tuple[Any, int | None]:
    """The error to report, and the position of a union member's label in its location (None if none).

    A value that fits no member of a plain union gets one error per member, the first one's first:
    ``scoring: {sample: {n: 0}}`` would be reported as "Input should be 'logprobs'". The member whose
    error lies deepest is the one the value was written for (here ``sample.n``), so its error is reported.
    """
    first = errors[0]
    *parent, label = first["loc"]
    if not parent or not _is_member_label(label) or label == "[key]":
        return first, None
    depth = len(parent)
    members = [
        e
        for e in errors
        if len(e["loc"]) > depth and list(e["loc"][:depth]) == parent and _is_member_label(e["loc"][depth])
    ]
    return max(members, key=lambda e: len(e["loc"])), depth


def no_duplicates(values: list[Any] | None) -> list[Any] | None:
    """A list of levels with each listed once: a repeated level would count its outcomes twice."""
    seen: set[Any] = set()
    for v in values or []:
        if v in seen:
            raise ValueError(f"{v!r} is listed twice")
        seen.add(v)
    return values


Unique = AfterValidator(no_duplicates)  # use as Annotated[list[X], Unique]: the one duplicate-level check
