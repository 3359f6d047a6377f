"""The time the out-of-process helpers wait on: deadlines (`monotonic`) and pauses (`sleep`).

Layer-neutral, like backoff.py: the Azure layer's registry helpers and the in-cluster layer's VM
restart take a clock as an argument instead of calling `time` themselves, so a test can run the
same waits on a clock that skips its sleeps. Production passes nothing and gets `SYSTEM`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def sleep(self, seconds: float) -> None:
        """Waits `seconds`."""
        ...


class SystemClock:
    """The real clock: `time.monotonic` and `time.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM: Clock = SystemClock()


class Deadline:
    """One wall-clock limit for a whole helper run, on `clock`: every wait inside it (a credential
    plugin, a request, a pause between retries) takes at most what `remaining` says."""

    def __init__(self, seconds: float, clock: Clock = SYSTEM):
        self.seconds, self.clock = seconds, clock
        self.started = clock.monotonic()

    def remaining(self) -> float:
        return self.seconds - (self.clock.monotonic() - self.started)
