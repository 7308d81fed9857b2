"""Who may call what: the expected allow/deny table of every route, kept in this one place.

A route missing from `EXPECTED_ACCESS` fails the matrix test, so a new route cannot ship
without someone deciding who may call it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, Literal

import httpx
from fastapi import FastAPI

from shared.auth import Role

PUBLIC: Literal["public"] = "public"
AUTHENTICATED: Literal["authenticated"] = "authenticated"

Access = Literal["public", "authenticated"] | frozenset[Role]
Operation = tuple[str, str]

# Anyone holding a token may read (the auditor reads everything, DESIGN.md §1).
_READ = AUTHENTICATED

REQUESTER = frozenset({Role.REQUESTER})
EXECUTOR = frozenset({Role.EXECUTOR})
CHANGE_MANAGER = frozenset({Role.CHANGE_MANAGER})
CHANGE_LEAD = frozenset({Role.CHANGE_LEAD})
APPROVERS = frozenset({Role.CHANGE_MANAGER, Role.CHANGE_LEAD, Role.CAB_MEMBER})
PLANNERS = frozenset({Role.EXECUTOR, Role.CHANGE_MANAGER})
DEPLOYMENT_REPORTERS = frozenset({Role.EXECUTOR, Role.REQUESTER})
INCIDENT_RECORDERS = frozenset({Role.EXECUTOR, Role.CHANGE_MANAGER, Role.CHANGE_LEAD})
PROCESS_OWNERS = frozenset({Role.CHANGE_MANAGER, Role.CHANGE_LEAD})
LEDGER_READERS = frozenset({Role.AUDITOR, Role.CHANGE_LEAD, Role.CHANGE_MANAGER, Role.CAB_MEMBER})

EXPECTED_ACCESS: dict[Operation, Access] = {
    # Platform: probes, metrics, the API description and the portal's static files.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/ui"): PUBLIC,
    ("GET", "/ui/"): PUBLIC,
    ("GET", "/ui/{name}"): PUBLIC,
    ("GET", "/v1/events/asyncapi.json"): _READ,
    # Intake. Editing and submitting also need ownership; cancelling needs ownership or
    # change_manager/change_lead (see OWNERSHIP in the matrix test).
    ("POST", "/v1/changes"): REQUESTER,
    ("GET", "/v1/changes"): _READ,
    ("GET", "/v1/changes/{change_id}"): _READ,
    ("PATCH", "/v1/changes/{change_id}"): REQUESTER,
    ("POST", "/v1/changes/{change_id}/submit"): REQUESTER,
    ("POST", "/v1/changes/{change_id}/cancel"): AUTHENTICATED,
    ("POST", "/v1/templates"): CHANGE_LEAD,
    ("GET", "/v1/templates"): _READ,
    ("GET", "/v1/templates/{template_id}"): _READ,
    ("POST", "/v1/deployments"): DEPLOYMENT_REPORTERS,
    ("GET", "/v1/deployments"): _READ,
    ("GET", "/v1/deployments/{deployment_id}"): _READ,
    # Review. Deciding, waiving and raising the impact are never open to the requester.
    ("GET", "/v1/reviews"): _READ,
    ("GET", "/v1/reviews/{change_id}"): _READ,
    ("POST", "/v1/reviews/{change_id}/approvals"): APPROVERS,
    ("POST", "/v1/reviews/{change_id}/waivers"): CHANGE_MANAGER,
    ("PUT", "/v1/reviews/{change_id}/impact-level"): CHANGE_MANAGER,
    ("GET", "/v1/policies/risk"): _READ,
    ("PUT", "/v1/policies/risk"): CHANGE_LEAD,
    ("GET", "/v1/policies/risk/versions"): _READ,
    ("GET", "/v1/policies/risk/versions/{version}"): _READ,
    ("GET", "/v1/policies/approvals"): _READ,
    ("PUT", "/v1/policies/approvals"): CHANGE_LEAD,
    ("GET", "/v1/policies/approvals/versions"): _READ,
    ("GET", "/v1/policies/approvals/versions/{version}"): _READ,
    ("GET", "/v1/policies/services"): _READ,
    ("PUT", "/v1/policies/services"): CHANGE_LEAD,
    ("GET", "/v1/policies/services/versions"): _READ,
    ("GET", "/v1/policies/services/versions/{version}"): _READ,
    ("POST", "/v1/freeze-windows"): CHANGE_LEAD,
    ("GET", "/v1/freeze-windows"): _READ,
    ("GET", "/v1/freeze-windows/{freeze_id}"): _READ,
    ("DELETE", "/v1/freeze-windows/{freeze_id}"): CHANGE_LEAD,
    # Execution.
    ("GET", "/v1/executions/deployments"): _READ,
    ("GET", "/v1/executions/{change_id}"): _READ,
    ("GET", "/v1/executions/{change_id}/deployments"): _READ,
    ("PUT", "/v1/executions/{change_id}/plan"): PLANNERS,
    ("POST", "/v1/executions/{change_id}/start"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/complete"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/rollback"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/acceptance"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/stages/{number}/start"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/stages/{number}/verifications"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/stages/{number}/complete"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/rollback/steps/{number}/start"): EXECUTOR,
    ("POST", "/v1/executions/{change_id}/rollback/steps/{number}/complete"): EXECUTOR,
    ("GET", "/v1/gate"): _READ,
    ("POST", "/v1/gate/checks"): EXECUTOR,
    ("GET", "/v1/gate/checks"): _READ,
    # Audit: the ledger's bulk reads are for the people who answer for the process.
    ("GET", "/v1/audit/changes/{change_id}"): _READ,
    ("GET", "/v1/audit/entries"): LEDGER_READERS,
    ("GET", "/v1/audit/export"): LEDGER_READERS,
    ("GET", "/v1/audit/tree-head"): _READ,
    ("GET", "/v1/audit/public-key"): _READ,
    ("GET", "/v1/audit/proofs/inclusion"): _READ,
    ("GET", "/v1/audit/proofs/consistency"): _READ,
    ("GET", "/v1/audit/verify"): _READ,
    ("GET", "/v1/reports/stability"): _READ,
    ("POST", "/v1/incidents"): INCIDENT_RECORDERS,
    ("GET", "/v1/incidents"): _READ,
    ("GET", "/v1/incidents/{incident_id}"): _READ,
    ("PATCH", "/v1/incidents/{incident_id}"): INCIDENT_RECORDERS,
    ("POST", "/v1/incidents/{incident_id}/links"): INCIDENT_RECORDERS,
    ("POST", "/v1/retrospectives"): PROCESS_OWNERS,
    ("GET", "/v1/retrospectives"): _READ,
    ("GET", "/v1/retrospectives/action-items"): _READ,
    ("GET", "/v1/retrospectives/action-items/{item_id}"): _READ,
    ("PATCH", "/v1/retrospectives/action-items/{item_id}"): PROCESS_OWNERS,
    ("GET", "/v1/retrospectives/{retrospective_id}"): _READ,
    # Notify.
    ("POST", "/v1/subscriptions"): PROCESS_OWNERS,
    ("GET", "/v1/subscriptions"): _READ,
    ("GET", "/v1/subscriptions/{subscription_id}"): _READ,
    ("DELETE", "/v1/subscriptions/{subscription_id}"): PROCESS_OWNERS,
    ("GET", "/v1/subscriptions/{subscription_id}/deliveries"): _READ,
    ("GET", "/v1/deliveries/{delivery_id}"): _READ,
    ("POST", "/v1/deliveries/{delivery_id}/replay"): PROCESS_OWNERS,
}

# A caller is one role, or nobody at all (no Authorization header).
NO_TOKEN = None
CALLERS: list[Role | None] = [NO_TOKEN, *Role]

_INTEGER_PARAMETERS = {"number", "version"}
_PARAMETER = re.compile(r"\{(\w+)\}")
_WITH_BODY = {"POST", "PUT", "PATCH"}


def app_operations(app: FastAPI) -> set[Operation]:
    """Every (method, path) the app serves, HEAD aside (Starlette answers it for each GET)."""
    operations = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    }
    for route in _flattened(app.routes):
        path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            if path is not None and method != "HEAD":
                operations.add((method, path))
    return operations


def _flattened(routes: Iterable[Any]) -> Iterator[Any]:
    # FastAPI keeps included routers as branches; routes hidden from the schema live there too.
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            yield from route.effective_route_contexts()
        else:
            yield route


def concrete_path(template: str) -> str:
    """The path with ids nobody has: random UUIDs, large integers, an unknown file name."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _INTEGER_PARAMETERS:
            return "987654"
        if name.endswith("_id"):
            return str(uuid.uuid4())
        return "no-such-file.txt"

    return _PARAMETER.sub(fill, template)


# Every body model forbids unknown fields, so an authorized call fails validation and acts on
# nothing; a bare `{}` would be a valid (empty) service catalog and replace the real one.
_PROBE_BODY = {"authz_matrix_probe": True}


def request_body(method: str) -> dict[str, Any] | None:
    """A body no route accepts, where a body is allowed."""
    return dict(_PROBE_BODY) if method in _WITH_BODY else None


def expected_allowed(access: Access, caller: Role | None) -> bool:
    if access == PUBLIC:
        return True
    if caller is NO_TOKEN:
        return False
    return access == AUTHENTICATED or caller in access


def was_denied(response: httpx.Response) -> bool:
    """Denied means 401, or 403 for a missing role; anything else means authorization passed."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and problem_code(response) == "missing-role"


def problem_code(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    code = response.json().get("code")
    return str(code) if code is not None else None
