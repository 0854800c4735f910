"""slant: audit large language models for preference and bias.

The public API is this list; everything else may change. The command line uses nothing else. Names are
imported on first use, so ``import slant`` (and the command line) does not pay for pandas or langgraph
before they are needed; type checkers read the same names from the ``TYPE_CHECKING`` block.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_PLACES: dict[str, list[str]] = {  # module → the names it gives the card
    # audits: a campaign file → probes → model calls → outcomes → disparities, in one database
    "slant.api": ["AuditResult", "audit", "plan"],
    "slant.batch": ["batch_status", "collect_batch", "export_batch", "import_batch", "submit_batch"],
    "slant.spec": ["Campaign", "load_campaign"],
    "slant.cost": ["estimate_lines", "token_lines"],
    "slant.probes": ["FAMILIES"],
    "slant.store": ["find_run", "latest_run", "list_runs", "open_db", "open_existing"],
    # reports of a stored run
    "slant.report": ["html_report", "markdown", "print_report", "summary"],
    "slant.report.jsontext": ["to_json"],
    # regression: diff against a pinned baseline, gates, scheduled audits, history
    "slant.regress.check": ["RegressionResult", "audit_scheduled", "check", "diff"],
    "slant.regress.output": ["regression_json", "regression_junit", "regression_markdown"],
    "slant.regress.baseline": ["baseline_of", "pin", "pins", "unpin"],
    "slant.regress.history": ["estimates_by_run", "history", "history_html", "history_runs"],
    # refusals, judged by rules or by a model
    "slant.detect.refusal": ["DEFAULT_REFUSAL_POLICY", "REFUSAL_POLICIES", "classify_refusal"],
    "slant.detect.refusal_io": ["label_file"],
    "slant.annotate": ["JudgeResult", "judge_refusals"],
    # a family's published scoring of replies collected elsewhere
    "slant.probes.iat": ["score_iat_reply"],
    "slant.probes.iat_reply": ["IATScore"],
    "slant.probes.pairwise_assign": ["AssignScore", "score_assign_reply"],
    "slant.probes.persona": ["PersonaScore", "score_persona_reply"],
    "slant.rescore": ["RESCORE_FAMILIES", "score_file", "score_summary_lines", "summarize_scores"],
    # planning an audit's size
    "slant.stats.power": ["matched_sets_for_gap", "responses_for_rate_gap"],
    "slant.plan": ["model_advice"],
    # preference inference and pack generation (langgraph agents)
    "slant.agents": ["PreferenceConfig", "PreferenceSession", "Profile", "load_profile"],
    "slant.agents.samples": ["read_samples"],
    "slant.agents.scenario_session": ["ScenarioSession"],
    "slant.agents.personas": ["StyleDraft", "draft_style_packs", "spec_pack"],
    # released benchmark data sets (the user's copy)
    "slant.datasets": ["DATASETS", "download_dataset"],
    # where does the bias show? a search over scenario variants, confirmed on fresh probes
    "slant.search": ["BiasSearch", "SearchResult", "search_report"],
    # tools
    "slant.browse": ["browse"],
    "slant.targets.local": ["LocalServer", "MODEL_ALIAS"],
    "slant.errors": ["SlantError", "SpecError"],
}
_EXPORTS = {name: module for module, names in _PLACES.items() for name in names}
__all__ = [*sorted(_EXPORTS), "__version__", "errors"]  # errors: the exit codes and error types

if TYPE_CHECKING:
    from slant import errors as errors
    from slant.agents import PreferenceConfig as PreferenceConfig
    from slant.agents import PreferenceSession as PreferenceSession
    from slant.agents import Profile as Profile
    from slant.agents import load_profile as load_profile
    from slant.agents.personas import StyleDraft as StyleDraft
    from slant.agents.personas import draft_style_packs as draft_style_packs
    from slant.agents.personas import spec_pack as spec_pack
    from slant.agents.samples import read_samples as read_samples
    from slant.agents.scenario_session import ScenarioSession as ScenarioSession
    from slant.annotate import JudgeResult as JudgeResult
    from slant.annotate import judge_refusals as judge_refusals
    from slant.api import AuditResult as AuditResult
    from slant.api import audit as audit
    from slant.api import plan as plan
    from slant.batch import batch_status as batch_status
    from slant.batch import collect_batch as collect_batch
    from slant.batch import export_batch as export_batch
    from slant.batch import import_batch as import_batch
    from slant.batch import submit_batch as submit_batch
    from slant.browse import browse as browse
    from slant.cost import estimate_lines as estimate_lines
    from slant.cost import token_lines as token_lines
    from slant.datasets import DATASETS as DATASETS
    from slant.datasets import download_dataset as download_dataset
    from slant.detect.refusal import DEFAULT_REFUSAL_POLICY as DEFAULT_REFUSAL_POLICY
    from slant.detect.refusal import REFUSAL_POLICIES as REFUSAL_POLICIES
    from slant.detect.refusal import classify_refusal as classify_refusal
    from slant.detect.refusal_io import label_file as label_file
    from slant.errors import SlantError as SlantError
    from slant.errors import SpecError as SpecError
    from slant.plan import model_advice as model_advice
    from slant.probes import FAMILIES as FAMILIES
    from slant.probes.iat import score_iat_reply as score_iat_reply
    from slant.probes.iat_reply import IATScore as IATScore
    from slant.probes.pairwise_assign import AssignScore as AssignScore
    from slant.probes.pairwise_assign import score_assign_reply as score_assign_reply
    from slant.probes.persona import PersonaScore as PersonaScore
    from slant.probes.persona import score_persona_reply as score_persona_reply
    from slant.regress.baseline import baseline_of as baseline_of
    from slant.regress.baseline import pin as pin
    from slant.regress.baseline import pins as pins
    from slant.regress.baseline import unpin as unpin
    from slant.regress.check import RegressionResult as RegressionResult
    from slant.regress.check import audit_scheduled as audit_scheduled
    from slant.regress.check import check as check
    from slant.regress.check import diff as diff
    from slant.regress.history import estimates_by_run as estimates_by_run
    from slant.regress.history import history as history
    from slant.regress.history import history_html as history_html
    from slant.regress.history import history_runs as history_runs
    from slant.regress.output import regression_json as regression_json
    from slant.regress.output import regression_junit as regression_junit
    from slant.regress.output import regression_markdown as regression_markdown
    from slant.report import html_report as html_report
    from slant.report import markdown as markdown
    from slant.report import print_report as print_report
    from slant.report import summary as summary
    from slant.report.jsontext import to_json as to_json
    from slant.rescore import RESCORE_FAMILIES as RESCORE_FAMILIES
    from slant.rescore import score_file as score_file
    from slant.rescore import score_summary_lines as score_summary_lines
    from slant.rescore import summarize_scores as summarize_scores
    from slant.search import BiasSearch as BiasSearch
    from slant.search import SearchResult as SearchResult
    from slant.search import search_report as search_report
    from slant.spec import Campaign as Campaign
    from slant.spec import load_campaign as load_campaign
    from slant.stats.power import matched_sets_for_gap as matched_sets_for_gap
    from slant.stats.power import responses_for_rate_gap as responses_for_rate_gap
    from slant.store import find_run as find_run
    from slant.store import latest_run as latest_run
    from slant.store import list_runs as list_runs
    from slant.store import open_db as open_db
    from slant.store import open_existing as open_existing
    from slant.targets.local import MODEL_ALIAS as MODEL_ALIAS
    from slant.targets.local import LocalServer as LocalServer


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("slant.errors")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'slant' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
