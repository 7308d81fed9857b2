"""Who must approve each impact level, for how long an approval holds; no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.auth import Role
from shared.contracts import ImpactLevel, RequiredApproval

APPROVER_ROLES = frozenset({Role.CHANGE_MANAGER, Role.CAB_MEMBER, Role.CHANGE_LEAD})


class LevelPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    required: list[RequiredApproval] = Field(min_length=1, max_length=3)
    pre_approved_from_template: bool = Field(
        default=False,
        description="A ready change from a standard-change template is approved without a vote.",
    )
    emergency: bool = Field(
        default=False,
        description="Approved for execution before the review completes: failing readiness "
        "items do not block, a retrospective is mandatory, a freeze needs an override reason.",
    )
    approval_valid_for: timedelta | None = Field(
        default=None,
        description="How long an approval lets the change start (ISO 8601, e.g. `P2D`); "
        "never past the window's end, which is the default.",
    )
    vote_valid_for: timedelta | None = Field(
        default=None,
        description="A decision older than this no longer counts toward the quorum "
        "(ISO 8601, e.g. `P7D`); absent: decisions do not age.",
    )

    @field_validator("required")
    @classmethod
    def _approver_roles_once(cls, required: list[RequiredApproval]) -> list[RequiredApproval]:
        roles = [need.role for need in required]
        if invalid := sorted(role.value for role in roles if role not in APPROVER_ROLES):
            raise ValueError(
                f"{invalid} cannot approve; use {sorted(r.value for r in APPROVER_ROLES)}"
            )
        if len(set(roles)) != len(roles):
            raise ValueError("name each role once, with its count")
        if any(need.count > 20 for need in required):
            raise ValueError("a count above 20 is never reached in practice")
        return required

    @field_validator("approval_valid_for", "vote_valid_for")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    standard: LevelPolicy
    important: LevelPolicy
    urgent: LevelPolicy
    critical: LevelPolicy

    @model_validator(mode="after")
    def _flags_where_they_mean_something(self) -> ApprovalPolicy:
        for level in (ImpactLevel.IMPORTANT, ImpactLevel.URGENT, ImpactLevel.CRITICAL):
            if self.of(level).pre_approved_from_template:
                raise ValueError(
                    f"{level.value}.pre_approved_from_template: only standard changes come "
                    "from templates"
                )
        return self

    def of(self, level: ImpactLevel) -> LevelPolicy:
        policy: LevelPolicy = getattr(self, level.value)
        return policy


def _one(role: Role, count: int = 1) -> RequiredApproval:
    return RequiredApproval(role=role, count=count)


# DESIGN §1: standard pre-approved from a template, else one change_manager; important one
# change_manager; urgent one change_manager, may start before the review completes;
# critical the change_lead plus a CAB quorum, whose decisions must be recent.
DEFAULT_APPROVAL_POLICY = ApprovalPolicy(
    standard=LevelPolicy(required=[_one(Role.CHANGE_MANAGER)], pre_approved_from_template=True),
    important=LevelPolicy(required=[_one(Role.CHANGE_MANAGER)]),
    urgent=LevelPolicy(required=[_one(Role.CHANGE_MANAGER)], emergency=True),
    critical=LevelPolicy(
        required=[_one(Role.CHANGE_LEAD), _one(Role.CAB_MEMBER, 2)],
        vote_valid_for=timedelta(days=14),
    ),
)


def approval_expires_at(
    policy: LevelPolicy, *, approved_at: datetime, window_end: datetime
) -> datetime:
    """Until when the approval lets the change start: its validity, capped at the window's end."""
    if policy.approval_valid_for is None:
        return window_end
    return min(window_end, approved_at + policy.approval_valid_for)
