"""Settings of the store and the collector, read from ``LEDGERLINE_*`` variables."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from collector.store.errors import ConfigError
from collector.store.settings import StoreSettings

__all__ = ["CollectorSettings", "StoreSettings", "is_loopback"]


class CollectorSettings(StoreSettings):
    """The OTLP receiver: ports, credentials, limits and group-commit tuning."""

    host: str = Field("127.0.0.1", description="Address the collector listens on.")
    http_port: int = Field(4318, ge=0, le=65535)
    grpc_port: int = Field(4317, ge=0, le=65535)
    ingest_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated bearer tokens; empty means none required."
    )
    insecure: bool = Field(
        False, description="Allow a non-loopback bind without ingest tokens, or with LEDGERLINE_API_AUTH=off."
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Request size limit, after gunzip.")
    max_queue_spans: int = Field(200_000, gt=0, description="Spans waiting for commit before 429.")
    max_queue_bytes: int = Field(32 * 1024 * 1024, gt=0, description="Bytes waiting for commit before 429.")
    max_batch_spans: int = Field(20_000, gt=0, description="Spans in one group commit at most.")
    max_batch_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="Bytes of (serialized) spans in one group commit at most."
    )
    batch_linger_ms: float = Field(20.0, ge=0, description="How long a commit waits for company.")
    retry_after_s: int = Field(2, ge=1, description="Retry-After sent with 429 and 503.")
    ingest_decoder: Literal["clickhouse", "python"] = Field(
        "clickhouse", description="Who decodes OTLP protobuf: ClickHouse (fast) or Python (fallback)."
    )
    shutdown_timeout_s: float = Field(30.0, gt=0, description="Time to flush accepted data on stop.")
    max_concurrent_requests: int = Field(
        256, gt=0, description="Export requests in progress before 503 (idle connections do not count)."
    )
    max_concurrent_grpc: int = Field(
        16, gt=0, description="OTLP/gRPC exports in progress before RESOURCE_EXHAUSTED with RetryInfo."
    )
    max_receiving_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Bytes of HTTP bodies being received at once; others wait unread."
    )
    max_decoding_bytes: int = Field(
        128 * 1024 * 1024,
        gt=0,
        description="Estimated memory of bodies being decoded at once (JSON counts several times its size).",
    )
    memory_limit_mb: int | None = Field(
        None,
        gt=0,
        description="Memory (MiB) the collector's process may take (default: the container's limit, else 2560); "
        "settings that could need more are refused at start.",
    )
    header_timeout_s: float = Field(10.0, gt=0, description="Time for a connection to send a request head.")
    body_timeout_s: float = Field(
        30.0, gt=0, description="Time for a request body (gRPC: message) to arrive before 408 (gRPC: cancelled)."
    )
    retention_raw_days: int = Field(
        30, ge=1, description="Days raw spans (otel_traces) are kept; older spans are rejected at ingest."
    )
    max_future_s: float = Field(
        86_400.0, ge=0, description="How far past the collector's clock a span may end before it is rejected."
    )
    redact: str | None = Field(None, description="Attribute redaction rules at ingest: a path or inline YAML.")
    redact_key: SecretStr | None = Field(None, description="HMAC-SHA-256 key of the 'hash' redaction action.")

    @field_validator("ingest_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [t.strip() for t in value.split(",") if t.strip()]
        return value

    def check_bind(self) -> None:
        """Refuse to listen beyond loopback without credentials unless told to."""
        if self.ingest_tokens or self.insecure or is_loopback(self.host):
            return
        raise ConfigError(
            f"refusing to listen on {self.host} without ingest tokens: set LEDGERLINE_INGEST_TOKENS or pass --insecure"
        )


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
