"""Review policies: the risk policy, the approval policy and the service catalog.

Each is a JSON document kept in every version; the highest version is in force, and
version 0 is the built-in default. A change_lead stores a new version; an invalid
document is refused with the fields (and, for risk rules, the rule) at fault.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.review import reassessing
from services.review.approval_policy import DEFAULT_APPROVAL_POLICY, ApprovalPolicy
from services.review.assessing import Policies
from services.review.catalog import EMPTY_CATALOG, ServiceCatalog
from services.review.models import tables
from services.review.repository_policies import PolicyRepository
from services.review.risk.defaults import DEFAULT_RISK_POLICY
from services.review.risk.policy import RiskPolicy
from shared.auth import Principal
from shared.concurrency import check_version
from shared.contracts import EventType, PolicyUpdated
from shared.errors import InvalidRequest, NotFound
from shared.outbox import record_event
from shared.pagination import PageRequest

BUILT_IN = "changeward"


class PolicyName(StrEnum):
    RISK = "risk"
    APPROVALS = "approvals"
    SERVICES = "services"


MODELS: dict[PolicyName, type[BaseModel]] = {
    PolicyName.RISK: RiskPolicy,
    PolicyName.APPROVALS: ApprovalPolicy,
    PolicyName.SERVICES: ServiceCatalog,
}
DEFAULTS: dict[PolicyName, BaseModel] = {
    PolicyName.RISK: DEFAULT_RISK_POLICY,
    PolicyName.APPROVALS: DEFAULT_APPROVAL_POLICY,
    PolicyName.SERVICES: EMPTY_CATALOG,
}


class InvalidPolicy(InvalidRequest):
    code = "invalid-policy"
    title = "The policy is not valid; the previous version stays in force"


class PolicyVersionNotFound(NotFound):
    code = "policy-version-not-found"
    title = "No such policy version"


class StoredPolicy(BaseModel):
    """One version of a policy document, with who stored it and when."""

    name: PolicyName
    version: int
    created_by: str
    created_at: datetime | None
    document: dict[str, Any]


async def current(session: AsyncSession, name: PolicyName) -> StoredPolicy:
    row = await PolicyRepository.from_session(session).latest(name.value)
    if row is None:
        return StoredPolicy(
            name=name,
            version=0,
            created_by=BUILT_IN,
            created_at=None,
            document=DEFAULTS[name].model_dump(mode="json", by_alias=True),
        )
    return StoredPolicy(
        name=name,
        version=row.version,
        created_by=row.created_by,
        created_at=row.created_at,
        document=row.document,
    )


async def version(session: AsyncSession, name: PolicyName, number: int) -> StoredPolicy:
    if number == 0:
        return StoredPolicy(
            name=name,
            version=0,
            created_by=BUILT_IN,
            created_at=None,
            document=DEFAULTS[name].model_dump(mode="json", by_alias=True),
        )
    row = await PolicyRepository.from_session(session).get(name.value, number)
    if row is None:
        raise PolicyVersionNotFound(f"The {name.value} policy has no version {number}.")
    return StoredPolicy(
        name=name,
        version=row.version,
        created_by=row.created_by,
        created_at=row.created_at,
        document=row.document,
    )


async def history(
    session: AsyncSession, name: PolicyName, page: PageRequest
) -> tuple[list[StoredPolicy], str | None]:
    rows, next_cursor = await PolicyRepository.from_session(session).page(name.value, page)
    items = [
        StoredPolicy(
            name=name,
            version=row.version,
            created_by=row.created_by,
            created_at=row.created_at,
            document=row.document,
        )
        for row in rows
    ]
    return items, next_cursor


async def in_force(session: AsyncSession) -> Policies:
    """The three policies in force, read in one statement; each document is parsed once per
    process (every assessment reads them, and they seldom change)."""
    stored = await PolicyRepository.from_session(session).latest_documents()
    built_in = (0, "")
    risk_version, risk = stored.get(PolicyName.RISK.value, built_in)
    _, approvals = stored.get(PolicyName.APPROVALS.value, built_in)
    _, catalog = stored.get(PolicyName.SERVICES.value, built_in)
    return Policies(
        risk=_parsed(PolicyName.RISK, risk),
        risk_version=risk_version,
        approvals=_parsed(PolicyName.APPROVALS, approvals),
        catalog=_parsed(PolicyName.SERVICES, catalog),
    )


@functools.lru_cache(maxsize=64)
def _parsed(name: PolicyName, document: str) -> Any:
    """`document` (JSON text; empty for the built-in default) as the policy's model. Keyed
    by the content itself, so a new version, or another database, is never served stale."""
    if not document:
        return DEFAULTS[name]
    return MODELS[name].model_validate_json(document)


async def replace(
    session: AsyncSession,
    name: PolicyName,
    document: dict[str, Any],
    principal: Principal,
    *,
    if_match: str | None,
) -> StoredPolicy:
    """Store `document` as the next version, publish `policy.updated` and re-assess the
    pending reviews by it.

    `if_match` must name the version in force (the ETag of GET), so that a document edited
    on an older version, or sent by mistake, never replaces the policy unseen.
    """
    parsed = validate(name, document)
    repository = PolicyRepository.from_session(session)
    await repository.lock(name.value)
    await reassessing.hold_inputs(session)
    latest = await current(session, name)
    check_version(if_match, latest.version, noun=f"{name.value} policy")
    stored = parsed.model_dump(mode="json", by_alias=True)
    row = await repository.add(name.value, latest.version + 1, stored, principal.subject)
    await record_event(
        session,
        tables,
        EventType.POLICY_UPDATED,
        subject=f"policy:{name.value}",
        data=PolicyUpdated(
            policy=name.value, version=row.version, updated_by=principal.subject, document=stored
        ),
        actor=principal.subject,
    )
    await reassessing.reassess_pending(session, await in_force(session), actor=principal.subject)
    return StoredPolicy(
        name=name,
        version=row.version,
        created_by=row.created_by,
        created_at=row.created_at,
        document=stored,
    )


def validate(name: PolicyName, document: dict[str, Any]) -> BaseModel:
    """Read as the JSON it came as, strictly: `true` is no number, "yes" no boolean."""
    try:
        return MODELS[name].model_validate_json(json.dumps(document), strict=True)
    except ValidationError as error:
        raise _invalid(name, document, error) from None


def _invalid(name: PolicyName, document: dict[str, Any], error: ValidationError) -> InvalidPolicy:
    errors = []
    for detail in error.errors():
        loc = list(detail["loc"])
        entry: dict[str, Any] = {
            "loc": ["body", *loc],
            "msg": detail["msg"],
            "type": detail["type"],
        }
        rule = _rule_at(document, loc)
        if rule is not None:
            entry["rule"] = rule
        errors.append(entry)
    described = "; ".join(_describe(entry) for entry in errors)
    return InvalidPolicy(f"The {name.value} policy was not stored: {described}", errors=errors)


def _rule_at(document: dict[str, Any], loc: list[Any]) -> str | None:
    """The id of the risk rule an error is in, when the document gives one."""
    if len(loc) < 2 or loc[0] != "rules" or not isinstance(loc[1], int):
        return None
    rules = document.get("rules")
    if not isinstance(rules, list) or loc[1] >= len(rules) or not isinstance(rules[loc[1]], dict):
        return None
    rule_id = rules[loc[1]].get("id")
    return str(rule_id) if rule_id is not None else f"#{loc[1]}"


def _describe(entry: dict[str, Any]) -> str:
    field = ".".join(str(part) for part in entry["loc"][1:]) or "(document)"
    where = f"rule {entry['rule']!r}, field {field}" if "rule" in entry else f"field {field}"
    return f"{where}: {entry['msg']}"
