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

    jwt_secret: str | None = None
    jwks_url: str | None = None
    jwt_audience: str = "changeward"
    jwt_issuer: str | None = None

    @property
    def topics(self) -> tuple[str, str]:
        return (self.changes_topic, self.deployments_topic)


@lru_cache
def get_settings() -> Settings:
    return Settings()
