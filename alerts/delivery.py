"""HTTP delivery with retries: exponential backoff, 429 ``Retry-After`` honoured, and no
retry of requests the receiver rejected as wrong (other 4xx)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from alerts.errors import DeliveryError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one notification is tried."""

    attempts: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 5.0


def retry_after(response: httpx.Response, default: float | None) -> float | None:
    """The ``Retry-After`` seconds of an answer (``default`` when absent or not a number)."""
    try:
        value = response.headers.get("Retry-After")
        return default if value is None else max(0.0, float(value))
    except ValueError:
        return default


def post_json(
    client: httpx.Client,
    url: str,
    body: Any,
    policy: RetryPolicy,
    on_attempt: Callable[[int], None] | None = None,
) -> httpx.Response:
    """POST ``body`` as JSON until a 2xx; raise DeliveryError when out of attempts or rejected.

    ``on_attempt(n)`` is called before request ``n`` (1, 2, ...) goes out (the metrics)."""
    delay = policy.backoff_s
    last = ""
    for attempt in range(1, policy.attempts + 1):
        wait = delay
        if on_attempt is not None:
            on_attempt(attempt)
        try:
            response = client.post(url, json=body, timeout=policy.timeout_s)
            if response.is_success:
                return response
            last = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code == 429:
                after = retry_after(response, delay)
                wait = delay if after is None else after
            elif response.status_code < 500:
                raise DeliveryError(f"{_safe(url)} rejected the notification: {last}")
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt < policy.attempts:
            log.info("delivery to %s failed (%s); retry %d in %.1fs", _safe(url), last, attempt, wait)
            time.sleep(min(wait, policy.max_backoff_s))
            delay = min(delay * 2, policy.max_backoff_s)
    raise DeliveryError(f"{_safe(url)}: {last}")


def _safe(url: str) -> str:
    # Slack webhook URLs are secrets: log only scheme and host.
    return str(httpx.URL(url).copy_with(path="/…", query=None)) if "hooks.slack.com" in url else url
