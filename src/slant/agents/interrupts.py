"""Reading a paused langgraph graph: what its review interrupt is waiting for."""

from __future__ import annotations

from typing import Any


def pending(graph: Any, thread: dict[str, Any]) -> list[int]:
    """Indices awaiting review in the graph's interrupt payload (empty when the graph is not paused)."""
    for task in graph.get_state(thread).tasks:
        for intr in task.interrupts:
            return list(intr.value.get("pending", []))
    return []
