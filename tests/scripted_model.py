"""A Target whose replies are a function of the prompt, for the preference-agent tests.

It behaves like a chat endpoint that ignores prefills (so parsers see full replies). The script knows
which graph node asked by the prompt's wording, and answers as a model that has "learned" the user's
rules would. ``fail_when`` makes every call whose prompt contains that text fail (a permanent error).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from slant.targets import Reply, Request, TargetError

USER_TEXT = "hi team & all - the office is closed monday. any questions?"


def follows(preference: str, text: str) -> int:
    """The script's verdict: rules it knows are checked; anything else is contradicted."""
    p = preference.lower()
    if "&" in p or "ampersand" in p:
        return 2 if "&" in text else -2
    if "question" in p:
        return 2 if text.rstrip().endswith("?") else -2
    if "office" in p:
        return 2 if "office" in text.lower() else -2
    if "lower" in p:
        return 1 if text == text.lower() else -2
    return -1


def default_script(user: str) -> str:
    if "Write the text for this task" in user:
        prefs = user.split("Follow these preferences of the writer:")[-1] if "Follow these" in user else ""
        text = "Dear colleagues, the office is closed on Monday and Tuesday. Best, Sam"
        if "&" in prefs:
            text = text.replace(" and ", " & ")
        if "question" in prefs:
            text = text.replace(" Best, Sam", " Any questions?")
        return text
    if "How does the user write differently" in user:
        return "Preferences:\n- uses & instead of and\n- ends with a question\n- writes in lower case"
    if "Split these writing preferences" in user:
        items = re.findall(r"^- (.+)$", user, re.M)
        return "Preferences:\n" + "\n".join(f"- {i}" for i in items)
    if "Merge these writing preferences" in user:
        return "Preferences:\n" + "\n".join(dict.fromkeys(re.findall(r"^- .+$", user, re.M)))
    if "Does the text follow the preference" in user:
        pref = re.search(r"Writing preference: (.+)", user).group(1)
        text = user.split("<text>\n", 1)[1].rsplit("\n</text>", 1)[0]
        return f"Verdict: {follows(pref, text)}"
    if "what writing preference explains" in user:
        return "Preferences:\n- uses & instead of and"
    return "I am not sure."


class ScriptedTarget:
    name = "scripted"

    def __init__(self, script: Callable[[str], str] = default_script, fail_when: str | None = None) -> None:
        self.script, self.fail_when = script, fail_when
        self.calls: Counter[str] = Counter()  # by the first line of the user prompt's instruction
        self.prompts: list[str] = []

    @property
    def id(self) -> str:
        return "scripted@test"

    async def __aenter__(self) -> ScriptedTarget:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def describe(self) -> dict:
        return {"id": self.id}

    async def complete(self, request: Request) -> Reply:
        user = request.messages[-1][1]
        self.prompts.append(user)
        if self.fail_when and self.fail_when in user:
            raise TargetError("http_400", "scripted permanent failure", retryable=False, status=400)
        text = self.script(user)
        usage = {"prompt_tokens": len(user.split()), "completion_tokens": len(text.split())}
        return Reply(text=text, finish_reason="stop", endpoint="chat", usage=usage)

    def count(self, phrase: str) -> int:
        return sum(phrase in p for p in self.prompts)
