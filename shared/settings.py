"""Process-wide settings, read from `CHANGEWARD_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("intake", "review", "execution", "audit")


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
    database_pool_size: int = 10

    kafka_bootstrap_servers: str | None = None
    kafka_client_id: str = "changeward"
    changes_topic: str = "changeward.changes.v1"
    deployments_topic: str = "changeward.deployments.v1"
    topic_partitions: int = 6
    topic_replication_factor: int = 1
    topic_retention_ms: int = 7 * 24 * 3600 * 1000

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

    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_audience: str = "changeward"
    jwt_issuer: str | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.changes_topic, self.deployments_topic, self.tree_heads_topic)


@lru_cache
def get_settings() -> Settings:
    return Settings()
