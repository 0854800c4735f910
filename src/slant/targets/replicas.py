"""One model served by several replicas (several base URLs): requests balanced by load, failures
routed around.

Each request goes to the healthy replica with the fewest requests in flight. A replica whose call
fails with a retryable error (connection refused, 5xx, timeout, 429) rests for ``cooldown`` seconds;
the engine's retry of that request then lands on another replica. When every replica is resting, the
one that rested longest is tried again. The replicas must serve the same model: the target id names
them all (sorted), so the cache is shared across any order of the same URLs.
"""

from __future__ import annotations

import time
from typing import Any

from slant.targets.base import Reply, Request, TargetError
from slant.targets.openai_compat import OpenAICompatTarget


class ReplicaTarget:
    def __init__(self, replicas: list[OpenAICompatTarget], cooldown: float = 30.0) -> None:
        if len(replicas) < 2:
            raise ValueError("a replica set needs at least two base URLs")
        self.replicas, self.cooldown = replicas, cooldown
        first = replicas[0]
        self.name, self.model, self.prefill, self.timeout = (
            first.name,
            first.model,
            first.prefill,
            first.timeout,
        )
        self.in_flight = [0] * len(replicas)
        self.resting_until = [0.0] * len(replicas)
        self.served = [0] * len(replicas)  # successful replies per replica
        self.failed = [0] * len(replicas)

    @property
    def base_urls(self) -> list[str]:
        return [r.base_url or "default" for r in self.replicas]

    @property
    def id(self) -> str:
        return f"{self.name}@{'|'.join(sorted(self.base_urls))}"

    @property
    def server(self) -> dict[str, Any]:
        return {
            "replicas": [
                {"base_url": u, **r.server} for u, r in zip(self.base_urls, self.replicas, strict=True)
            ]
        }

    def describe(self) -> dict[str, Any]:
        return {
            **self.replicas[0].describe(),
            "id": self.id,
            "base_url": ",".join(self.base_urls),
            "server": self.server,
        }

    async def __aenter__(self) -> ReplicaTarget:
        for r in self.replicas:
            await r.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for r in self.replicas:
            await r.__aexit__(*exc)

    def pick(self) -> int:
        """The healthy replica with the least load (ties: the first); else the longest-resting one."""
        now = time.monotonic()
        healthy = [i for i, until in enumerate(self.resting_until) if until <= now]
        if not healthy:
            return min(range(len(self.replicas)), key=lambda i: self.resting_until[i])
        return min(healthy, key=lambda i: self.in_flight[i])

    async def complete(self, request: Request) -> Reply:
        i = self.pick()
        self.in_flight[i] += 1
        try:
            reply = await self.replicas[i].complete(request)
        except TargetError as e:
            self.failed[i] += 1
            if e.retryable:
                self.resting_until[i] = time.monotonic() + self.cooldown
            raise TargetError(
                e.kind,
                f"[{self.base_urls[i]}] {e}",
                retryable=e.retryable,
                status=e.status,
                retry_after=e.retry_after,
            ) from e
        finally:
            self.in_flight[i] -= 1
        self.served[i] += 1
        self.resting_until[i] = 0.0
        return reply
