"""Campaign files (YAML) as pydantic models, validated before any model call."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import GenericAlias
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from slant.adaptive import Adaptive
from slant.cost import Budget, Prices
from slant.errors import SpecError
from slant.files import read_yaml, validate
from slant.probes import FAMILIES
from slant.probes.family import on_change
from slant.probes.packs import SCENARIOS_DIR


def probe_set_type() -> Any:
    """A probe set of any registered family: a union discriminated by ``family`` (one family: its model)."""
    specs = tuple(f.Spec for f in FAMILIES.values())
    return Annotated[Union[specs], Field(discriminator="family")] if len(specs) > 1 else specs[0]  # noqa: UP007


if TYPE_CHECKING:

    class ProbeSet(Protocol):
        """What a type checker knows of any family's spec (at run time: the union of them, above)."""

        @property
        def family(self) -> str: ...
        @property
        def name(self) -> str: ...

else:
    ProbeSet = probe_set_type()


class Gate(BaseModel):
    """A pass/fail rule for scheduled audits, judged on the disparity estimates of a run.

    ``max_abs``: every matching estimate must stay within ±max_abs; ``max_change``: its paired change
    against the pinned baseline must stay within ±max_change; ``max_error_rate``: the share of calls that
    failed. The first two are judged by the 95% CI (pass: the CI lies inside the bounds; fail: it lies
    wholly outside; otherwise inconclusive), so noise alone neither passes nor fails a gate. The fields
    that narrow a gate are checked against what the campaign produces when it is planned
    (:func:`slant.plan.check_gates`).
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.:-]*$")
    metric: str | None = Field(None, description="disparity metric, e.g. paired_gap, paired_refused_gap")
    probe_set: str | None = None
    cue: str | None = None
    axis: str | None = None
    group: str | None = None
    max_abs: PositiveFloat | None = None
    max_change: PositiveFloat | None = None
    max_error_rate: float | None = Field(None, ge=0, le=1)
    on_inconclusive: Literal["pass", "fail"] = "pass"

    @model_validator(mode="after")
    def one_threshold(self) -> Gate:
        given = [k for k in ("max_abs", "max_change", "max_error_rate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of max_abs, max_change, max_error_rate")
        if given[0] != "max_error_rate" and not self.metric:
            raise ValueError(f"{given[0]} needs a metric (e.g. paired_gap)")
        return self


class Campaign(BaseModel):
    """An audit: which target, which probe sets, where results go.

    Input paths (scenario packs) are relative to the campaign file; ``db`` is relative to the
    working directory.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="the campaign's name (letters, digits, . _ -), recorded with every run",
    )
    description: str = Field("", description="free text about the audit, for the reader")
    target: str = Field(
        "local",
        description="the model: local (the embedded one), openai/<model>, vllm/<served-name>, "
        "openai-compat/<model> or vllm-engine/<model>; --target overrides it",
    )
    base_url: str | None = Field(
        None,
        description="API root of vllm/ and openai-compat/ targets (else VLLM_BASE_URL / OPENAI_BASE_URL); "
        "a list (or commas) names replicas of one model",
    )
    prefill: Literal["auto", "chatml", "continue", "none"] = Field(
        "auto",
        description="how the assistant prefill is sent: chatml (raw completions with the template), "
        "continue (vLLM continue_final_message), none (not sent); auto picks by target",
    )
    db: str = Field("slant.db", description="SQLite database of the results, relative to the working folder")
    seed: int = Field(0, description="the seed every sampled request and shuffle derives from")
    max_connections: PositiveInt = Field(4, description="requests in flight at once")
    timeout: PositiveFloat = Field(60.0, description="seconds one request may take before it is retried")
    max_retries: int = Field(
        4, ge=0, le=20, description="retries of a failed request (exponential backoff, Retry-After honoured)"
    )
    probes: list[ProbeSet] = Field(min_length=1, description="the probe sets, each of one family (below)")
    gates: list[Gate] = Field(
        [], description="pass/fail rules judged on each run (slant diff, slant audit-scheduled)"
    )
    adaptive: Adaptive | None = Field(
        None, description="{looks, alpha, seed}: stop each probe set once its paired gaps are decided"
    )
    prices: Prices | None = Field(
        None, description="{prompt, completion, cached}: USD per 1M tokens, for estimates and budget.usd"
    )
    budget: Budget | None = Field(
        None, description="{tokens, usd}: stop sending before the run could pass either; raise it to resume"
    )

    @field_validator("base_url", mode="before")
    @classmethod
    def replicas_as_commas(cls, value: object) -> object:
        return ",".join(str(v) for v in value) if isinstance(value, list) else value

    @field_validator("probes")
    @classmethod
    def unique_set_names(cls, sets: list[ProbeSet]) -> list[ProbeSet]:
        names = [s.name for s in sets]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"probe set name {dup!r} is used twice; give each set a distinct 'name'")
        return sets

    # Set by load_campaign: where the file is and a hash of its content.
    path: Path | None = Field(None, exclude=True)
    content_hash: str = Field("", exclude=True)


def _accept_registered_families() -> None:
    """A family registered after this module was imported (a test's, a plugin's) is a campaign's too."""
    # list[the union of every registered family's Spec], built at run time: pydantic accepts the alias,
    # mypy's view of FieldInfo.annotation (a static type form) cannot express it
    Campaign.model_fields["probes"].annotation = GenericAlias(list, (probe_set_type(),))  # type: ignore[assignment]
    Campaign.model_rebuild(force=True)


on_change(_accept_registered_families)


def shipped_campaign(name: str) -> Path | None:
    """The example campaign slant ships under this bare name (``quickstart``), if there is one."""
    path = SCENARIOS_DIR / "campaigns" / f"{name}.yaml"
    return path if name.replace("-", "").isalnum() and path.is_file() else None


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign file; problems raise SpecError naming the file and field.

    A bare name that is not a file here (``quickstart``) means the campaign of that name shipped with
    slant, so an installed package can run its examples from any folder.
    """
    path = Path(path)
    if not path.exists():
        path = shipped_campaign(str(path)) or path
    campaign = validate(Campaign, read_yaml(path), path, tags=FAMILIES)
    seen: set[str] = set()
    for i, g in enumerate(campaign.gates):
        if g.name in seen:
            raise SpecError(str(path), f"gates[{i}].name", f"gate name {g.name!r} is used twice")
        seen.add(g.name)
    campaign.path = path
    campaign.content_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return campaign
