"""Every preference-learning method behind one small interface, for the session and the benchmark.

A learner sees a user's samples one at a time: ``observe(sample)`` drafts the sample's task with what it
has learned so far (the draft the benchmark scores), then learns from the user's text.

- no-learning: drafts with no preferences. oracle: drafts with the true preferences (an upper bound).
- icl (ICL-k): drafts with the user's last k samples as in-context examples.
- cipher-1 / cipher-k (Gao et al., 2024): after each sample, one call infers a preference phrase from the
  draft and the user's text; a draft retrieves the k past samples whose tasks are nearest (lexical
  overlap, no downloads) and uses their preferences, merged by one call (CIPHER-k: k = max(2, k)).
- prose / prose-icl: the graph in ``preference.py``, without human review.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from langgraph.checkpoint.memory import InMemorySaver

from slant.agents.components import Component, Sample, clean_draft, coalesce_exact, delimit, lexical_overlap
from slant.agents.gateway import Gateway
from slant.agents.preference import (
    Ctx,
    PreferenceConfig,
    State,
    build_graph,
    draft_messages,
    list_call,
)


class Learner(Protocol):
    name: str

    def observe(self, sample: Sample) -> str | None:
        """Draft the sample's task with what was learned so far (None if the call failed), then learn."""
        ...

    def components(self) -> list[Component]: ...


class _Drafting:
    def __init__(self, llm: Gateway, cfg: PreferenceConfig) -> None:
        self.llm, self.cfg = llm, cfg
        self.seen: list[Sample] = []

    def write(self, sample: Sample, preferences: list[str], examples: Sequence[Sample] = ()) -> str | None:
        answer = self.llm.ask(
            "draft", draft_messages(sample.task_text, preferences, examples), self.cfg.draft_tokens
        )
        return None if answer.text is None else clean_draft(answer.text)

    def components(self) -> list[Component]:
        return []


class NoLearning(_Drafting):
    name = "no-learning"

    def observe(self, sample: Sample) -> str | None:
        return self.write(sample, [])


class Oracle(_Drafting):
    name = "oracle"

    def __init__(self, llm: Gateway, cfg: PreferenceConfig, truth: list[str]) -> None:
        super().__init__(llm, cfg)
        self.truth = truth

    def observe(self, sample: Sample) -> str | None:
        return self.write(sample, self.truth)

    def components(self) -> list[Component]:
        return [Component(text=t, status="confirmed") for t in self.truth]


class ICL(_Drafting):
    name = "icl"

    def observe(self, sample: Sample) -> str | None:
        out = self.write(sample, [], list(reversed(self.seen[-self.cfg.k :])) if self.cfg.k else [])
        self.seen.append(sample)
        return out


class Cipher(_Drafting):
    """CIPHER-k: per-sample preference phrases, retrieved by task similarity and merged."""

    def __init__(self, llm: Gateway, cfg: PreferenceConfig) -> None:
        super().__init__(llm, cfg)
        self.k = 1 if cfg.method == "cipher-1" else max(2, cfg.k)  # k = 1 would be CIPHER-1
        self.name: str = cfg.method if cfg.method.startswith("cipher") else "cipher-k"
        self.memory: list[tuple[Sample, list[str]]] = []

    def retrieved(self, sample: Sample) -> list[str]:
        ranked = sorted(self.memory, key=lambda m: -lexical_overlap(m[0].task_text, sample.task_text))
        prefs = coalesce_exact([p for _, ps in ranked[: self.k] for p in ps])
        if len(prefs) > 1 and self.k > 1:
            merged = list_call(
                _ctx(self), "coalesce", "coalesce", preferences="\n".join(f"- {p}" for p in prefs)
            )
            prefs = coalesce_exact(merged) if merged else prefs
        return prefs

    def observe(self, sample: Sample) -> str | None:
        out = self.write(sample, self.retrieved(sample))
        found = list_call(
            _ctx(self),
            "cipher",
            "cipher",
            task=sample.task_text,
            draft=delimit(out or ""),
            user=delimit(sample.text),
        )
        self.memory.append((sample, (found or [])[:1]))
        return out

    def components(self) -> list[Component]:
        return [
            Component(text=p, status="proposed", scope=s.task, source_sample=s.id)
            for s, ps in self.memory
            for p in ps
        ]


def _ctx(learner: _Drafting) -> Ctx:
    return Ctx(learner.llm, learner.cfg)


class Prose:
    """PROSE (or PROSE+ICL): the graph, run per sample without review; the step-0 draft is scored."""

    def __init__(self, llm: Gateway, cfg: PreferenceConfig, others: Sequence[str] = ()) -> None:
        self.name: str = cfg.method
        self.cfg = cfg.model_copy(update={"review": False})
        self.graph = build_graph(Ctx(llm, self.cfg), InMemorySaver())
        self.thread = {"configurable": {"thread_id": "benchmark"}}
        self.others = list(others)
        self.state: State = {}

    def observe(self, sample: Sample) -> str | None:
        self.state = self.graph.invoke({"samples": [sample.model_dump()], "others": self.others}, self.thread)
        first = [d for d in self.state.get("drafts", []) if d["sample_id"] == sample.id and d["step"] == 0]
        return first[0]["text"] if first else None

    def components(self) -> list[Component]:
        return [Component.model_validate(c) for c in self.state.get("profile", [])]


def make_learner(
    llm: Gateway, cfg: PreferenceConfig, truth: Sequence[str] = (), others: Sequence[str] = ()
) -> Learner:
    """The learner for ``cfg.method``."""
    if cfg.method in ("prose", "prose-icl"):
        return Prose(llm, cfg, others)
    if cfg.method.startswith("cipher"):
        return Cipher(llm, cfg)
    if cfg.method == "icl":
        return ICL(llm, cfg)
    if cfg.method == "oracle":
        return Oracle(llm, cfg, list(truth))
    return NoLearning(llm, cfg)
