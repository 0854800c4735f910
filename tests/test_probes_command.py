"""`slant probes`: every campaign-level and probe-set field with its default and meaning, whole."""

from __future__ import annotations

from typing import Any

from slant.cli import main
from slant.probes import FAMILIES
from slant.spec import Campaign

CAMPAIGN_FIELDS = (
    "name",
    "target",
    "base_url",
    "prefill",
    "db",
    "seed",
    "max_connections",
    "timeout",
    "max_retries",
    "adaptive",
    "gates",
)


def listed(model: type[Any], skip: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    return [(n, i) for n, i in model.model_fields.items() if n not in skip and not i.exclude]


def table_rows(out: str) -> list[tuple[str, str, str]]:
    """(field, default, meaning) of every table row, wrapped cells joined again."""
    rows: list[list[str]] = []
    for line in out.splitlines():
        if not line.startswith("│"):
            continue
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if cells[0]:
            rows.append(cells)
        else:  # a wrapped continuation of the row above
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return [(f, d, m) for f, d, m in rows]


def test_every_field_is_listed_whole_with_its_default_and_meaning(capsys):
    """It showed `PydanticUndefined` for a default factory, empty meanings for four families, cut
    family summaries mid-sentence, and no campaign-level field at all (issue 14 F)."""
    assert main(["probes"]) == 0
    out = capsys.readouterr().out
    assert "PydanticUndefined" not in out and "…" not in out
    expected = listed(Campaign) + [f for m in FAMILIES.values() for f in listed(m.Spec, skip=("family",))]
    rows = table_rows(out)
    assert [r[0] for r in rows] == [name for name, _ in expected]
    for (name, info), (_, default, meaning) in zip(expected, rows, strict=True):
        assert info.description, f"{name} has no description"
        assert meaning == " ".join(info.description.split()), name  # whole, markup and all
        assert (default == "required") == info.is_required(), name
    assert {r[0] for r in rows[: len(listed(Campaign))]} >= set(CAMPAIGN_FIELDS)
    by_name = {r[0]: r for r in rows}
    assert by_name["fixed"][1] == "{}"  # a default factory's value, not PydanticUndefined
    assert by_name["pairs"][1] == "null"  # only task: choose needs pairs (the published task has none)
    assert "{gender: [male, female], race: [[white, Black], [white, Asian]]}" in by_name["pairs"][2]
    text = " ".join(out.split())
    for name, module in FAMILIES.items():
        summary = " ".join(module.doc.strip().split("\n\n")[0].split())
        assert f"{name} — {summary}" in text  # the family's first paragraph, not its first line
