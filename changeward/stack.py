"""The pieces a Changeward process needs before it serves: a database, a secret, a schema."""

from __future__ import annotations

from pathlib import Path

import structlog

from shared import migrate
from shared.auth import generate_secret
from shared.embedded_postgres import EmbeddedPostgres
from shared.settings import Settings

log = structlog.get_logger(__name__)

DATABASE_NAME = "changeward"


def embedded_postgres(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(
        data_dir=settings.data_dir / "postgres", port=settings.embedded_postgres_port
    )


def ensure_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The database URL to use, starting the embedded PostgreSQL when none is configured."""
    if settings.database_url:
        return settings.database_url, None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres(settings)
    server.start()
    server.create_database(DATABASE_NAME)
    log.info("embedded postgres ready", data_dir=str(server.data_dir), port=server.port)
    return server.url(DATABASE_NAME), server


def ensure_jwt_secret(settings: Settings) -> tuple[Settings, bool]:
    """Settings with a JWT secret: the configured one, or one kept under the data folder."""
    if settings.jwt_secret or settings.jwks_url:
        return settings, False
    secret_file: Path = settings.data_dir / "jwt-secret"
    created = not secret_file.exists()
    if created:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(generate_secret())
        secret_file.chmod(0o600)
    return settings.model_copy(update={"jwt_secret": secret_file.read_text().strip()}), created


def migrate_all(database_url: str) -> None:
    migrate.upgrade(database_url)
