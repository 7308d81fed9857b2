"""PagerDuty V3 webhooks (`incident.triggered`, `incident.resolved`) as incident facts; no I/O.

Where each fact comes from, in the V3 payload `{"event": {...}}`:

- `external_id`: `event.data.id` (the PagerDuty incident); `external_url`: `event.data.html_url`
- `service`: `event.data.service.summary`, unless `pagerduty_services` maps its id or summary
- `severity`: `event.data.priority.summary` P1..P5 -> sev1..sev5; without a priority,
  urgency `high` -> sev2 and `low` -> sev4
- `started_at`: `event.data.created_at`; `resolved_at`: `event.occurred_at` of `incident.resolved`
- `environment`: PagerDuty has none; the `pagerduty_environment` setting names it.

Deliveries are signed `X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>` (several
comma-separated while a secret rotates); with a configured secret one must match.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.audit.errors import (
    IgnoredWebhookEvent,
    InvalidWebhookSignature,
    UnsupportedIncidentPayload,
)
from shared.contracts import Severity

SOURCE = "pagerduty"
SIGNATURE_HEADER = "x-pagerduty-signature"
TRIGGERED = "incident.triggered"
RESOLVED = "incident.resolved"
_URGENCY = {"high": Severity.SEV2, "low": Severity.SEV4}


@dataclass(frozen=True)
class PagedIncident:
    event_type: str
    external_id: str
    service: str
    severity: Severity
    title: str
    started_at: datetime
    resolved_at: datetime | None
    external_url: str | None


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    presented = {name.lower(): value for name, value in headers.items()}.get(SIGNATURE_HEADER)
    if presented is None:
        raise InvalidWebhookSignature(f"{SIGNATURE_HEADER} is missing; the hook must be signed.")
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    candidates = [part.strip() for part in presented.split(",")]
    if not any(
        hmac.compare_digest(expected.encode(), c.encode("utf-8", "replace")) for c in candidates
    ):
        raise InvalidWebhookSignature(
            f"No {SIGNATURE_HEADER} matches the body signed with the secret."
        )


def parse(body: bytes, *, services: Mapping[str, str]) -> PagedIncident:
    """The incident a V3 delivery opens or resolves; IgnoredWebhookEvent for any other event."""
    try:
        document = json.loads(body)
        event = document["event"]
        event_type = event["event_type"]
    except (ValueError, KeyError, TypeError):
        raise _unsupported(["body", "event", "event_type"], "not a PagerDuty V3 webhook") from None
    if event_type not in (TRIGGERED, RESOLVED):
        raise IgnoredWebhookEvent(f"PagerDuty event {event_type!r} opens or resolves no incident.")
    data = event.get("data")
    if not isinstance(data, dict) or data.get("type") != "incident":
        raise _unsupported(["body", "event", "data"], "must be an incident")
    service = data.get("service") or {}
    service_name = (
        services.get(str(service.get("id")))
        or services.get(str(service.get("summary")))
        or service.get("summary")
    )
    started_at = _moment(data.get("created_at"), ["body", "event", "data", "created_at"])
    return PagedIncident(
        event_type=event_type,
        external_id=_required(data, "id"),
        service=_text(service_name, ["body", "event", "data", "service", "summary"]),
        severity=_severity(data),
        title=_required(data, "title"),
        started_at=started_at,
        resolved_at=(
            _moment(event.get("occurred_at"), ["body", "event", "occurred_at"])
            if event_type == RESOLVED
            else None
        ),
        external_url=data.get("html_url") if isinstance(data.get("html_url"), str) else None,
    )


def _severity(data: dict[str, Any]) -> Severity:
    priority = data.get("priority")
    summary = priority.get("summary") if isinstance(priority, dict) else None
    if isinstance(summary, str) and summary.upper() in {"P1", "P2", "P3", "P4", "P5"}:
        return Severity(f"sev{summary[1]}")
    return _URGENCY.get(str(data.get("urgency")), Severity.SEV3)


def _required(data: dict[str, Any], name: str) -> str:
    return _text(data.get(name), ["body", "event", "data", name])


def _text(value: object, loc: list[str]) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _unsupported(loc, "required")
    return value


def _moment(value: object, loc: list[str]) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise _unsupported(loc, "must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _unsupported(loc, "needs a timezone")
    return moment


def _unsupported(loc: list[str], message: str) -> UnsupportedIncidentPayload:
    return UnsupportedIncidentPayload(
        f"Invalid fields: {'.'.join(loc)}",
        errors=[{"loc": loc, "msg": message, "type": "value_error"}],
    )
