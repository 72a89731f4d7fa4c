"""A validated time window and row limit, as the lineage service's reads take it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """A validated time window, epoch ms, and a row limit."""

    since_ms: int
    until_ms: int
    limit: int

    def bucket_params(self, bucket_ms: int) -> dict[str, int]:
        """The bound parameters every bucketed metrics query takes."""
        return {"since_ms": self.since_ms, "until_ms": self.until_ms, "bucket_ms": bucket_ms}
