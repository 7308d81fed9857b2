"""What an event tells the ledger about its subject, for search; no I/O.

Events carry different parts of a change (`change.requested` its services and
environment, `change.assessed` its impact level, `change.accepted` its outcome); the
ledger keeps the latest of each per subject, so a search by environment finds every
entry of the changes in that environment, not only the entries that repeat it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Facets:
    services: tuple[str, ...] = ()
    environment: str | None = None
    impact_level: str | None = None
    outcome: str | None = None

    @property
    def empty(self) -> bool:
        return self == Facets()

    def updated_by(self, later: Facets) -> Facets:
        """What is known once `later` arrives: each facet it names replaces the one known."""
        return Facets(
            services=later.services or self.services,
            environment=later.environment or self.environment,
            impact_level=later.impact_level or self.impact_level,
            outcome=later.outcome or self.outcome,
        )


def facets_of(data: Mapping[str, Any]) -> Facets:
    """The facets an event's `data` names; anything malformed is ignored, never fatal."""
    services = data.get("services")
    service = data.get("service")
    if isinstance(services, list):
        named = tuple(sorted({s for s in services if isinstance(s, str) and s}))
    elif isinstance(service, str) and service:
        named = (service,)
    else:
        named = ()
    return Facets(
        services=named,
        environment=_text(data.get("environment")),
        impact_level=_text(data.get("impact_level")),
        outcome=_text(data.get("outcome")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
