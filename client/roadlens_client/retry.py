"""When to try a failed call again, and how long to wait first.

Only answers that say "not now" are retried: 429 (queue full) and 503 (loading, warming up, shutting down)
by default. A ``Retry-After`` header is honoured as the server's wish: the client waits at least that long,
and gives up instead of retrying early when the wish is longer than ``max_delay``. Without the header the
delay grows exponentially with random jitter, so many clients refused together do not return together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a naive one is read as such
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of refused calls: up to ``retries`` more attempts after the first.

    ``backoff`` is the first delay without ``Retry-After``; each further one doubles, up to ``max_delay``,
    and is drawn uniformly from its upper half (jitter). ``statuses`` are the HTTP statuses worth retrying.
    """

    retries: int = 3
    backoff: float = 0.5
    max_delay: float = 30.0
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_delay < 0:
            raise ValueError("retries, backoff and max_delay must not be negative")

    def delay(self, attempt: int, status: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1`` (0-based ``attempt`` just failed), or None to give up."""
        if attempt >= self.retries or status not in self.statuses:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_delay else None
        ceiling = min(self.max_delay, self.backoff * 2.0**attempt)
        return random.uniform(ceiling / 2.0, ceiling)


NO_RETRY = RetryPolicy(retries=0)
