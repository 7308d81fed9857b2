"""Runs each service's Alembic history against its own schema."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config

from shared.settings import SERVICES

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / service / "versions"))
    config.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d_%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(database_url: str, services: Iterable[str] = SERVICES) -> None:
    for service in services:
        command.upgrade(alembic_config(service, database_url), "head")


def check(database_url: str, services: Iterable[str] = SERVICES) -> None:
    """Raise if a service's models differ from its migrated schema."""
    for service in services:
        command.check(alembic_config(service, database_url))


async def upgrade_async(database_url: str, services: Iterable[str] = SERVICES) -> None:
    await asyncio.to_thread(upgrade, database_url, tuple(services))
