"""Settings of API authentication, read from ``LEDGERLINE_*`` variables and checked before
anything listens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from collector.config import settings_error
from collector.settings import is_loopback
from collector.store.errors import ConfigError

# Asymmetric JWS algorithms only: a verifier holding a public key cannot be tricked into
# HMAC with that key as the secret, and "none" is never accepted.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class AuthSettings(BaseSettings):
    """Who may call the lineage and alerts API, and how a caller proves it."""

    model_config = SettingsConfigDict(env_prefix="LEDGERLINE_", env_ignore_empty=True, extra="ignore")

    api_auth: Literal["on", "off"] = Field(
        "on", description="'off' serves every API call as a local admin; allowed on loopback only."
    )
    token_cache_ttl_s: float = Field(
        2.0, ge=0, le=60, description="How long a verified API token is trusted before the store is asked again."
    )
    max_credential_bytes: int = Field(8192, ge=256, le=65536, description="Longest Authorization header accepted.")
    access_log_flush_s: float = Field(0.5, gt=0, le=60, description="How often the access log is written.")
    oidc_jwks_url: str | None = Field(None, description="JWKS URL of the OIDC provider.")
    oidc_jwks_file: Path | None = Field(None, description="A JWKS JSON file instead of a URL.")
    oidc_issuer: str | None = Field(None, description="Required 'iss' of a JWT.")
    oidc_audience: str | None = Field(None, description="Required 'aud' of a JWT.")
    oidc_subject_claim: str = Field("sub", min_length=1, description="Claim naming the person.")
    oidc_role_claim: str = Field("ledgerline_role", min_length=1)
    oidc_legal_entities_claim: str = Field("ledgerline_legal_entities", min_length=1)
    oidc_regions_claim: str = Field("ledgerline_regions", min_length=1)
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(ASYMMETRIC_ALGORITHMS), description="Accepted JWS algorithms (asymmetric only)."
    )
    oidc_leeway_s: int = Field(30, ge=0, le=300, description="Clock skew allowed on exp/nbf/iat.")
    oidc_jwks_cache_s: int = Field(300, ge=1, description="How long fetched signing keys are kept.")
    oidc_jwks_min_refresh_s: float = Field(
        30.0, ge=0, description="An unknown 'kid' refetches the JWKS at most this often."
    )

    @field_validator("oidc_algorithms", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [a.strip() for a in value.split(",") if a.strip()]
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        refused = [a for a in value if a not in ASYMMETRIC_ALGORITHMS]
        if refused or not value:
            raise ValueError(f"only asymmetric algorithms are accepted ({', '.join(ASYMMETRIC_ALGORITHMS)})")
        return value

    @property
    def enabled(self) -> bool:
        """True unless auth is turned off."""
        return self.api_auth == "on"

    @property
    def oidc_configured(self) -> bool:
        """True when JWT bearer tokens are accepted."""
        return bool(self.oidc_jwks_url or self.oidc_jwks_file)

    def check(self, host: str, insecure: bool = False) -> None:
        """Refuse settings that cannot work or are unsafe for a bind on ``host``."""
        if not self.enabled and not is_loopback(host) and not insecure:
            raise ConfigError(
                f"refusing to serve the API on {host} with LEDGERLINE_API_AUTH=off: turn auth on or pass --insecure"
            )
        if self.oidc_jwks_url and self.oidc_jwks_file:
            raise ConfigError("set LEDGERLINE_OIDC_JWKS_URL or LEDGERLINE_OIDC_JWKS_FILE, not both")
        if self.oidc_configured and not (self.oidc_issuer and self.oidc_audience):
            raise ConfigError("a JWKS is configured: LEDGERLINE_OIDC_ISSUER and LEDGERLINE_OIDC_AUDIENCE are required")
        if self.oidc_jwks_file and not self.oidc_jwks_file.is_file():
            raise ConfigError(f"LEDGERLINE_OIDC_JWKS_FILE {self.oidc_jwks_file} is not a file")


def load_auth_settings(**overrides: object) -> AuthSettings:
    """The settings from the environment, with a one-line :class:`ConfigError` when invalid."""
    try:
        return AuthSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise settings_error(exc) from None
