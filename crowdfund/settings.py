"""Every setting in one place, read from the environment (runtime.md)."""

from __future__ import annotations

import secrets
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AmlMonitoring(BaseModel):
    """The transaction monitor's thresholds (`crowdfund worker monitor`, docs/aml.md), set
    as one JSON object: CROWDFUND_AML_MONITORING='{"cancel_cycles": 4}'."""

    # RAPID_CANCEL_CYCLE: pledge-and-release cycles by one backer within the window.
    # Three in a day is more than a change of mind (one cancellation is a right the
    # rules give every backer), and is how escrow is used to move money in and out.
    cancel_cycles: int = Field(default=3, ge=2)
    cancel_window_hours: int = Field(default=24, ge=1)
    # STRUCTURING: pledges within the window each "just under" a threshold (at most
    # `structuring_margin` below it) that together pass it. Thresholds: the reporting
    # amounts below, and for a non-sophisticated ECSP investor their Art. 21(7) risk
    # warning threshold. USD 10,000: the currency transaction report threshold
    # (31 CFR 1010.311) that structuring (31 U.S.C. 5324) evades; EUR 15,000: the
    # AML directive's occasional transactions, "single or linked" (Directive (EU)
    # 2015/849 Art. 11(b)(i)).
    structuring_window_hours: int = Field(default=24, ge=1)
    structuring_margin: Decimal = Field(default=Decimal("0.15"), gt=0, lt=1)
    reporting_amount_usd: Decimal = Field(default=Decimal("10000.00"), gt=0)
    reporting_amount_eur: Decimal = Field(default=Decimal("15000.00"), gt=0)
    # VELOCITY: pledged within the window above this share of the backer's declared
    # means (the greater of annual income and net worth, Reg CF's basis). Reg CF lets a
    # non-accredited investor commit 5-10% of it in a whole year; a quarter in one day is
    # 2.5 to 5 years' allowance. Totals under the floor are never flagged.
    velocity_window_hours: int = Field(default=24, ge=1)
    velocity_share: Decimal = Field(default=Decimal("0.25"), gt=0)
    velocity_floor: Decimal = Field(default=Decimal("5000.00"), ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROWDFUND_", extra="ignore")

    data_dir: Path = Path(".crowdfund")
    database_url: str | None = None
    kafka_bootstrap: str | None = None
    topic: str = "crowdfund.events"
    topic_partitions: int = Field(default=4, ge=1, le=64)
    secret_key: str | None = None
    cipher_key: str | None = None
    admin_email: str | None = None
    admin_password: str | None = None
    token_ttl_seconds: int = 12 * 3600
    # Signed tree heads (docs/audit.md): the Ed25519 private key, and where heads go.
    log_signing_key: str | None = None
    log_heads_topic: str = "crowdfund.log-heads"
    log_heads_interval: float = Field(default=2.0, gt=0, le=300)
    # OFAC's sdn.csv (docs/aml.md); unset: the small sample shipped with the package.
    screening_list: Path | None = None
    # Keys the identity hashes the AML monitor compares (unset: derived from the
    # secret key or the cipher key); changing it needs `projections rebuild monitor`.
    identity_key: str | None = None
    aml_monitoring: AmlMonitoring = AmlMonitoring()
    # Notices by e-mail: smtp://[user:pass@]host:port or smtps://...; `dev` starts a sink.
    smtp_url: str | None = None
    mail_from: str = "no-reply@crowdfund.invalid"
    # Security (docs/security.md). The keyring holds keys added by `crowdfund keys rotate`.
    keyring: Path | None = None
    # Where users reach the platform (links in mail; https turns on HSTS).
    public_url: str | None = None
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    # forwarded_allow_ips: comma-separated addresses or networks, "*" for any). Empty:
    # the client address is the TCP peer's, whatever headers say.
    forwarded_allow_ips: str = ""
    # /metrics answers only with `Authorization: Bearer <this>` (unset: only in dev).
    metrics_token: str | None = None
    # Uploaded documents, kept by SHA-256 (runtime.md: CROWDFUND_DOCUMENTS_DIR).
    documents_dir: Path | None = None

    @cached_property
    def resolved_database_url(self) -> str:
        """The event store's URL; SQLite under the data dir by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'events.db').resolve()}"

    @property
    def keyring_path(self) -> Path:
        return self.keyring or self.data_dir / "keyring.json"

    @property
    def resolved_documents_dir(self) -> Path:
        return self.documents_dir or self.data_dir / "documents"

    @property
    def is_postgres(self) -> bool:
        return self.resolved_database_url.startswith(("postgresql://", "postgres://"))

    def dev_secret(self, name: str) -> str:
        """A random secret kept in the data dir, so `dev` restarts keep tokens valid."""
        path = self.data_dir / f".{name}"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
        return value
