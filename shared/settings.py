"""Process-wide settings, read from `CHANGEWARD_*` environment variables."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("intake", "review", "execution", "audit", "notify")
# URL-safe base64 (as Fernet keys are written) read as the standard alphabet.
_URLSAFE = str.maketrans("-_", "+/")


class Settings(BaseSettings):
    """Every setting of Changeward, with its default.

    Leaving `database_url` unset starts the embedded PostgreSQL under `data_dir`;
    leaving `kafka_bootstrap_servers` unset in the all-in-one mode uses the
    in-process bus.
    """

    model_config = SettingsConfigDict(env_prefix="CHANGEWARD_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".changeward")
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")

    database_url: str | None = None
    embedded_postgres_port: int = 5433
    database_pool_size: int = 20

    kafka_bootstrap_servers: str | None = None
    kafka_client_id: str = "changeward"
    # How long a starting service waits for a broker that is not up yet before it gives up.
    kafka_start_timeout_seconds: float = Field(default=120.0, gt=0)
    changes_topic: str = "changeward.changes.v1"
    deployments_topic: str = "changeward.deployments.v1"
    topic_partitions: int = 6
    topic_replication_factor: int = 1
    topic_retention_ms: int = 7 * 24 * 3600 * 1000

    # How long review waits for a lock (its per-service conflict locks, an assessment's row)
    # before it gives up: a 503 with Retry-After to a request, a retry to a consumer.
    review_lock_timeout_ms: int = Field(default=5000, gt=0)

    relay_batch_size: int = 200
    relay_idle_poll_seconds: float = 1.0

    # `changeward serve` migrates its own schema first; turn off where a migrations job
    # runs before the replicas (compose, Kubernetes), so replicas never race on DDL.
    migrate_on_start: bool = True

    # Base64 of a 32-byte Ed25519 seed, or a PKCS#8 PEM; unset, the audit service keeps one
    # under data_dir (fine for one process; replicas must share a configured key).
    audit_signing_key: str | None = None
    # How often the audit service signs a tree head while entries arrive.
    tree_head_interval_seconds: float = Field(default=1.0, gt=0)
    tree_heads_topic: str = "changeward.tree-heads.v1"

    # Secrets of CI/CD providers' webhooks to POST /v1/deployments; a provider whose secret
    # is set may post without a bearer token (its signature or token authenticates it).
    github_webhook_secret: str | None = None
    gitlab_webhook_token: str | None = None
    argocd_webhook_token: str | None = None
    # Idempotency keys are kept at least this long, then purged.
    idempotency_key_ttl_hours: float = Field(default=24.0, ge=24.0)
    idempotency_purge_interval_seconds: float = Field(default=3600.0, gt=0)

    # Awareness notifications (the notify service): signed webhook deliveries, retried with
    # exponential backoff: retry n waits min(initial * multiplier**(n-1), max_delay), plus up
    # to `jitter` of that again. The defaults retry for about 28 h, then dead-letter.
    notify_poll_interval_seconds: float = Field(default=1.0, gt=0)
    notify_batch_size: int = Field(default=50, ge=1, le=1000)
    notify_concurrency: int = Field(default=20, ge=1)
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_retry_initial_seconds: float = Field(default=30.0, gt=0)
    notify_retry_multiplier: float = Field(default=2.0, ge=1)
    notify_retry_max_delay_seconds: float = Field(default=4 * 3600.0, gt=0)
    notify_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    notify_max_attempts: int = Field(default=16, ge=1)
    # How long before a change's window opens its `change.upcoming` reminder goes out,
    # unless the subscription says otherwise.
    notify_reminder_lead_seconds: int = Field(default=3600, ge=0)
    notify_delivery_retention_days: float = Field(default=30.0, gt=0)
    # The link in each notification; `{change_id}` is replaced (point it at your portal).
    notify_change_url_template: str = "http://127.0.0.1:8080/v1/changes/{change_id}"
    # Encrypts subscriptions' signing secrets at rest: base64 of 32 random bytes
    # (`openssl rand -base64 32`). Unset, notify keeps one under data_dir (fine for one
    # process or replicas sharing the folder; replicas elsewhere must share a configured key).
    notify_secret_key: str | None = None
    # Receivers on loopback or private networks (RFC 1918, unique local IPv6, CGNAT), e.g. an
    # on-prem chat server; link-local (cloud metadata), multicast and reserved ones never.
    notify_allow_private_receivers: bool = False

    # Stability reports and incidents (the audit service).
    # Which team owns each service, e.g. CHANGEWARD_SERVICE_TEAMS='{"checkout": "payments"}';
    # reports group a change under the teams of its services ("unowned" when none is named).
    service_teams: dict[str, str] = Field(default_factory=dict)
    # How far before an incident's start a deployment or execution is suggested as its cause.
    incident_link_lookback_minutes: int = Field(default=120, gt=0, le=7 * 24 * 60)
    # The environment PagerDuty incidents are recorded in (its payloads name none).
    pagerduty_environment: str = "production"
    # PagerDuty service id or name -> Changeward service; unmapped ones keep PagerDuty's name.
    pagerduty_services: dict[str, str] = Field(default_factory=dict)
    # PagerDuty V3 webhook signing secret; set, deliveries must carry a valid signature and
    # may come without a bearer token.
    pagerduty_webhook_secret: str | None = None

    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_audience: str = "changeward"
    jwt_issuer: str | None = None

    @field_validator("notify_secret_key")
    @classmethod
    def _a_32_byte_key(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            key = base64.b64decode(value.strip().translate(_URLSAFE), validate=True)
        except binascii.Error:
            key = b""
        if len(key) != 32:
            raise ValueError("must be base64 of 32 random bytes, e.g. `openssl rand -base64 32`")
        return value

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.changes_topic, self.deployments_topic, self.tree_heads_topic)


@lru_cache
def get_settings() -> Settings:
    return Settings()
