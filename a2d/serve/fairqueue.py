"""Waiting jobs, taken round robin over the clients (browser tabs, scripts) that queued them."""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any


class FairQueue:
    """Jobs waiting to run, taken round robin over clients, in order within a client."""

    def __init__(self) -> None:
        self._by_client: OrderedDict[str, deque[Any]] = OrderedDict()

    def put(self, job: Any) -> None:
        self._by_client.setdefault(job.client, deque()).append(job)

    def pop(self) -> Any:
        """The next job: the oldest of the client served longest ago."""
        if not self._by_client:
            return None
        client, jobs = next(iter(self._by_client.items()))
        job = jobs.popleft()
        del self._by_client[client]
        if jobs:
            self._by_client[client] = jobs  # to the back of the round
        return job

    def remove(self, job: Any) -> bool:
        jobs = self._by_client.get(job.client)
        if jobs is None or job not in jobs:
            return False
        jobs.remove(job)
        if not jobs:
            del self._by_client[job.client]
        return True

    def order(self) -> list[Any]:
        """Every waiting job in the order :meth:`pop` would take them."""
        lanes = [list(q) for q in self._by_client.values()]
        return [
            lane[i]
            for i in range(max(map(len, lanes), default=0))
            for lane in lanes
            if i < len(lane)
        ]

    def count(self, client: str) -> int:
        return len(self._by_client.get(client, ()))

    def __len__(self) -> int:
        return sum(map(len, self._by_client.values()))
