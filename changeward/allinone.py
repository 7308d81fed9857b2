"""The all-in-one mode: every service's router, relays and consumers in one process."""

from __future__ import annotations

from fastapi import FastAPI

from services.audit.app import SERVICE as AUDIT
from services.execution.app import SERVICE as EXECUTION
from services.intake.app import SERVICE as INTAKE
from services.notify.app import SERVICE as NOTIFY
from services.review.app import SERVICE as REVIEW
from shared.runtime import ALL_PROCESS_ROLES, ProcessRole, ServiceModule, build_app
from shared.settings import Settings

SERVICES: dict[str, ServiceModule] = {s.name: s for s in (INTAKE, REVIEW, EXECUTION, AUDIT, NOTIFY)}


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app(list(SERVICES.values()), settings, database_url=database_url)


def create_service_app(
    name: str,
    settings: Settings,
    database_url: str,
    roles: frozenset[ProcessRole] = ALL_PROCESS_ROLES,
) -> FastAPI:
    return build_app(
        [SERVICES[name]],
        settings,
        database_url=database_url,
        title=f"Changeward {name}",
        roles=roles,
    )
