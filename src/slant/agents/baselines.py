"""Every preference-learning method behind one small interface, for the session and the benchmark.

A learner sees a user's samples one at a time: ``observe(sample)`` drafts the sample's task with what it
has learned so far (the draft the benchmark scores), then learns from the user's text.

- no-learning: drafts with no preferences. oracle: drafts with the true preferences (an upper bound).
- icl (ICL-k): drafts with the user's last k samples as in-context examples.
- cipher-1 / cipher-n (Gao et al., 2024): when the user's text differs from the draft, one call infers a
  preference from the two; a draft uses the preference of the nearest past sample (cipher-1) or one
  call's summary of the k nearest ones' (cipher-n). Nearness is lexical overlap of the tasks (no
  downloads; the paper embeds them). cipher-k: slant's earlier variant (see ``Cipher``).
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
    bullet_list,
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
    """CIPHER (Gao et al., 2024): a preference per sample, retrieved by task similarity.

    cipher-1 drafts with the nearest earlier sample's preference; cipher-n with one call's summary of
    the k nearest ones' (k = 5 in the paper). Both infer a new preference only when the user's text
    differs from the draft (otherwise the sample keeps the preference the draft used), and a preference
    is the whole inferred reply. cipher-k is slant's variant: it always infers, keeps the reply's first
    item and merges the max(2, k) nearest samples' preferences with the coalesce call.
    """

    def __init__(self, llm: Gateway, cfg: PreferenceConfig) -> None:
        super().__init__(llm, cfg)
        self.name: str = cfg.method if cfg.method in ("cipher-1", "cipher-n") else "cipher-k"
        self.k = {"cipher-1": 1, "cipher-n": max(1, cfg.k)}.get(self.name, max(2, cfg.k))
        self.memory: list[tuple[Sample, list[str]]] = []

    def nearest(self, sample: Sample) -> list[tuple[Sample, list[str]]]:
        """The k earlier samples whose tasks overlap most with this one (earlier first among ties)."""
        return sorted(self.memory, key=lambda m: -lexical_overlap(m[0].task_text, sample.task_text))[: self.k]

    def retrieved(self, sample: Sample) -> list[str]:
        nearest = self.nearest(sample)
        if self.name == "cipher-1":
            return nearest[0][1] if nearest else []
        prefs = [p for _, ps in nearest for p in ps]
        if self.name == "cipher-n" and prefs:  # repeats stay: the call is asked for the frequent ones
            merged = list_call(_ctx(self), "aggregate", "cipher-aggregate", preferences=bullet_list(prefs))
            return merged or prefs
        prefs = coalesce_exact(prefs)
        if len(prefs) > 1:
            merged = list_call(_ctx(self), "coalesce", "coalesce", preferences=bullet_list(prefs))
            prefs = coalesce_exact(merged) if merged else prefs
        return prefs

    def observe(self, sample: Sample) -> str | None:
        used = self.retrieved(sample)
        out = self.write(sample, used)
        learned = used
        if self.name == "cipher-k" or out != sample.text:
            found = list_call(
                _ctx(self),
                "cipher",
                "cipher",
                task=sample.task_text,
                draft=delimit(out or ""),
                user=delimit(sample.text),
            )
            if self.name == "cipher-k":
                learned = (found or [])[:1]
            elif found:
                learned = found
        self.memory.append((sample, learned))
        return out

    def components(self) -> list[Component]:
        """Each stored preference once (a sample the user did not edit repeats the one it used)."""
        out: dict[str, Component] = {}
        for s, ps in self.memory:
            for p in ps:
                out.setdefault(p.lower(), Component(text=p, scope=s.task, source_sample=s.id))
        return list(out.values())


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
