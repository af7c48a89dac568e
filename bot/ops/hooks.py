"""The metrics calls the core, job runner, escalator and LLM wrapper make, and a default that does nothing.

Kept free of prometheus-client so the core, its tests and `haven chat` never need a registry. Every argument is
a label from a fixed set or a number; implementations must still clamp labels (see `bot.ops.metrics`).
"""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    def message_received(self, platform: str, kind: str) -> None:
        """An event reached the core; `kind` is message | button | start."""

    def replies_sent(self, platform: str, count: int) -> None:
        """Reply items the core handed back to the platform's adapter to send."""

    def handle_seconds(self, platform: str, seconds: float) -> None:
        """Time spent in one `Core.handle` call."""

    def crisis_assessed(self, level: str) -> None:
        """The rolling risk level a message was answered at (none ... imminent)."""

    def escalation_opened(self, level: str) -> None: ...

    def llm_error(self, kind: str) -> None:
        """The language model failed with a stable reason (timeout, rate_limited, ...)."""

    def llm_fallback(self) -> None:
        """The offline responder answered instead of the language model."""

    def job_started(self, kind: str, lag_seconds: float) -> None:
        """A durable job started `lag_seconds` after it was due."""

    def job_failed(self, kind: str) -> None: ...


class NoMetrics:
    """The default: every call is a no-op, so tests and embedded uses need no registry."""

    def message_received(self, platform: str, kind: str) -> None:
        pass

    def replies_sent(self, platform: str, count: int) -> None:
        pass

    def handle_seconds(self, platform: str, seconds: float) -> None:
        pass

    def crisis_assessed(self, level: str) -> None:
        pass

    def escalation_opened(self, level: str) -> None:
        pass

    def llm_error(self, kind: str) -> None:
        pass

    def llm_fallback(self) -> None:
        pass

    def job_started(self, kind: str, lag_seconds: float) -> None:
        pass

    def job_failed(self, kind: str) -> None:
        pass


NO_METRICS: Metrics = NoMetrics()
