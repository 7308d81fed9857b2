"""What the services agree on: enums, the change snapshot, and each event's payload.

Every payload here is a pydantic model, so each event type has a JSON Schema.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.auth import Role
from shared.change_details import CategoryDetails, details_matching_category
from shared.change_evidence import Contact, ImplementationStep, TestEvidence, VerificationCheck


class Category(StrEnum):
    HARDWARE = "hardware"
    SOFTWARE_CONFIG = "software_config"
    APPLICATION = "application"
    DATA = "data"
    TRAFFIC = "traffic"


class ImpactLevel(StrEnum):
    STANDARD = "standard"
    IMPORTANT = "important"
    URGENT = "urgent"
    CRITICAL = "critical"


class ChangeStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ASSESSED = "assessed"
    APPROVED = "approved"
    REJECTED = "rejected"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"


class Outcome(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class DeploymentStatus(StrEnum):
    """Where a CI/CD deployment stands, whichever provider reported it."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class EventType(StrEnum):
    CHANGE_REQUESTED = "change.requested"
    CHANGE_UPDATED = "change.updated"
    CHANGE_CANCELLED = "change.cancelled"
    CHANGE_ASSESSED = "change.assessed"
    CHANGE_APPROVAL_RECORDED = "change.approval_recorded"
    CHANGE_APPROVED = "change.approved"
    CHANGE_REJECTED = "change.rejected"
    CHANGE_EXECUTION_STARTED = "change.execution_started"
    CHANGE_COMPLETED = "change.completed"
    CHANGE_FAILED = "change.failed"
    CHANGE_ROLLED_BACK = "change.rolled_back"
    CHANGE_ACCEPTED = "change.accepted"
    DEPLOYMENT_REPORTED = "deployment.reported"
    TREE_HEAD_PUBLISHED = "audit.tree_head_published"
    FREEZE_WINDOW_DECLARED = "freeze_window.declared"
    FREEZE_WINDOW_LIFTED = "freeze_window.lifted"
    CHANGE_READINESS_WAIVED = "change.readiness_waived"
    POLICY_UPDATED = "policy.updated"
    CHANGE_STAGE_STARTED = "change.stage_started"
    CHANGE_STAGE_COMPLETED = "change.stage_completed"
    CHANGE_STAGE_FAILED = "change.stage_failed"
    CHANGE_GATE_CHECKED = "change.gate_checked"
    INCIDENT_RECORDED = "incident.recorded"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_LINKED = "incident.linked"
    RETROSPECTIVE_RECORDED = "retrospective.recorded"
    ACTION_ITEM_UPDATED = "action_item.updated"


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


NonBlank = Annotated[str, AfterValidator(_non_blank)]


class Window(BaseModel):
    """When the change is planned to happen."""

    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered_and_aware(self) -> Window:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times need a timezone, e.g. 2026-12-01T02:00:00Z")
        if self.end <= self.start:
            raise ValueError("window end must be after its start")
        return self


class Plans(BaseModel):
    """The implementation, rollback (emergency) and verification plans.

    Each plan is free text; the implementation and verification plans may also be
    structured as steps and checks, and either form counts as the plan being present.
    """

    model_config = ConfigDict(extra="forbid")

    REQUIRED: ClassVar[tuple[str, ...]] = ("implementation", "rollback", "verification")

    implementation: str | None = Field(default=None, description="How the change is made.")
    rollback: str | None = Field(
        default=None, description="The emergency plan: how the change is undone."
    )
    verification: str | None = Field(default=None, description="How the change is shown to work.")
    implementation_steps: list[ImplementationStep] = Field(
        default_factory=list,
        max_length=200,
        description="The implementation plan as ordered steps, each saying if it is automated.",
    )
    verification_checks: list[VerificationCheck] = Field(
        default_factory=list,
        max_length=200,
        description="The verification plan as checks with their expected results.",
    )

    def missing(self) -> list[str]:
        """The required plans that are absent (blank text and no structure)."""
        structured = {
            "implementation": bool(self.implementation_steps),
            "verification": bool(self.verification_checks),
        }
        return [
            name
            for name in self.REQUIRED
            if not (getattr(self, name) or "").strip() and not structured.get(name, False)
        ]


class ChangeSnapshot(BaseModel):
    """A change as intake knows it; carried by `change.requested` and `change.updated`."""

    change_id: UUID
    title: str
    category: Category
    services: list[str]
    environment: str
    window: Window
    plans: Plans
    requester: str
    emergency: bool = False
    version: int
    details: CategoryDetails | None = Field(
        default=None,
        description="The category's own details (the model named after `category`); "
        "absent when the requester gave none.",
    )
    business_justification: str | None = Field(
        default=None, description="Why the business needs the change."
    )
    test_evidence: list[TestEvidence] = Field(
        default_factory=list, description="Test suite results; empty when none were given."
    )
    contacts: list[Contact] = Field(
        default_factory=list, description="Whom stakeholders reach about the change."
    )
    standard: bool = Field(
        default=False,
        description="Created from a standard-change template (a pre-approvable, known change).",
    )
    template_id: UUID | None = Field(
        default=None, description="The standard-change template it was created from."
    )

    @model_validator(mode="before")
    @classmethod
    def _details_of_category(cls, data: Any) -> Any:
        return details_matching_category(data, model=cls.__name__)


class RequiredApproval(BaseModel):
    role: Role
    count: int = Field(ge=1)


class ReadinessItem(BaseModel):
    name: str
    status: str = Field(pattern="^(pass|fail|waived)$")
    reason: str


class RiskDimension(StrEnum):
    ARCHITECTURE = "architecture"
    PERFORMANCE = "performance"
    BUSINESS = "business"
    COMPLIANCE = "compliance"


class RiskBreakdown(BaseModel):
    """Points per risk dimension; they add up to the score before it is capped at 100."""

    architecture: int = Field(default=0, ge=0)
    performance: int = Field(default=0, ge=0)
    business: int = Field(default=0, ge=0)
    compliance: int = Field(default=0, ge=0)


class RuleFired(BaseModel):
    """One risk rule that matched the change, and what it added to the score."""

    rule: str = Field(description="The rule's id in the risk policy.")
    dimension: RiskDimension
    points: int = Field(ge=0)
    reason: str = Field(description="The rule's description, with the facts it matched.")


class ImpactOverride(BaseModel):
    """A change_manager raised the impact level above what the rules gave."""

    level: ImpactLevel
    reason: str
    overridden_by: str


class ChangeAssessed(BaseModel):
    impact_level: ImpactLevel
    ready: bool
    readiness: list[ReadinessItem]
    required_approvals: list[RequiredApproval]
    risk_score: int = Field(default=0, ge=0, le=100)
    risk_breakdown: RiskBreakdown = Field(default_factory=RiskBreakdown)
    rules_fired: list[RuleFired] = Field(default_factory=list)
    conflicts: list[UUID] = Field(
        default_factory=list,
        description="Open changes of the same service and environment with overlapping windows.",
    )
    assessed_version: int | None = Field(
        default=None,
        description="The change version assessed; an assessment older than the change is stale.",
    )
    rule_impact_level: ImpactLevel | None = Field(
        default=None, description="The level the rules gave, before any upward override."
    )
    impact_override: ImpactOverride | None = None
    pre_approved: bool = Field(
        default=False, description="A standard change from a template: approved without a vote."
    )
    risk_policy_version: int | None = Field(
        default=None, description="The risk policy version applied (0: the built-in default)."
    )


class ReadinessWaived(BaseModel):
    """A change_manager accepted a failing readiness item, with the reason."""

    item: str
    reason: str
    waived_by: str
    change_version: int


class PolicyUpdated(BaseModel):
    """A new version of a review policy (`risk`, `approvals` or `services`) is in force.

    Subject: `policy:<name>`.
    """

    policy: str
    version: int = Field(ge=1)
    updated_by: str
    document: dict[str, Any]


class ApprovalRecorded(BaseModel):
    approver: str
    role: Role
    decision: Decision
    comment: str | None = None


class ChangeApproved(BaseModel):
    impact_level: ImpactLevel
    approvers: list[str]
    services: list[str]
    environment: str
    window: Window
    emergency: bool = Field(
        default=False, description="An urgent change approved to start before its review completes."
    )
    retrospective_required: bool = Field(
        default=False, description="A post-change review is mandatory (every emergency change)."
    )
    approval_expires_at: datetime | None = Field(
        default=None, description="After this instant the approval no longer lets the change start."
    )
    freeze_override: str | None = Field(
        default=None, description="Why an urgent change may run during a freeze window, if it must."
    )


class FreezeWindowDeclared(BaseModel):
    """A blackout period: non-emergency changes may not be approved or executed inside it.

    Published by review (subject: the freeze window id) so execution's deploy gate can keep
    its own copy; empty `services` means every service, `environment` None every environment.
    """

    freeze_window_id: UUID
    services: list[str] = Field(default_factory=list)
    environment: str | None = None
    start: datetime
    end: datetime
    reason: str
    declared_by: str


class FreezeWindowLifted(BaseModel):
    freeze_window_id: UUID
    lifted_by: str


class ChangeRejected(BaseModel):
    rejected_by: str
    comment: str | None = None


class ChangeCancelled(BaseModel):
    reason: str | None = None


class ExecutionStarted(BaseModel):
    executor: str
    services: list[str]
    environment: str


class ExecutionFinished(BaseModel):
    executor: str
    notes: str | None = None


class StagePhase(StrEnum):
    ROLLOUT = "rollout"
    ROLLBACK = "rollback"


class StageReport(BaseModel):
    """One stage of an execution: a rollout stage (e.g. 10%) or a step of its rollback."""

    stage: int = Field(ge=1, description="The stage's number within its phase, from 1.")
    phase: StagePhase
    name: str
    target_percent: float | None = Field(
        default=None, description="The share the rollout reaches at this stage; none for rollback."
    )
    stages: int = Field(ge=1, description="How many stages the phase has.")


class StageStarted(StageReport):
    started_by: str
    emergency: bool = Field(default=False, description="Started under the emergency path.")


class StageCompleted(StageReport):
    completed_by: str
    verified: list[str] = Field(
        default_factory=list, description="The checks that passed (or warned) at this stage."
    )


class StageFailed(StageReport):
    """A rollout stage failed: the rollout stops here."""

    reason: str
    failed_checks: list[str] = Field(default_factory=list)
    deployment_id: UUID | None = Field(
        default=None, description="The pipeline-reported deployment whose failure failed it."
    )
    rollback_started: bool = Field(description="The plan started the rollback automatically.")


class GateReason(BaseModel):
    code: str = Field(description="Stable, machine-readable, e.g. `freeze_in_force`.")
    message: str
    blocking: bool = True


class GateChecked(BaseModel):
    """A pipeline asked the deploy gate and was told `allow` (recorded by execution)."""

    service: str
    environment: str
    stage: int | None = None
    allow: bool
    reasons: list[GateReason]
    next_allowed_at: datetime | None = None
    pipeline_url: str | None = None
    asked_by: str


class ChangeAccepted(BaseModel):
    outcome: Outcome
    accepted_by: str
    notes: str | None = None


class TreeHeadPublished(BaseModel):
    """A signed head of the audit ledger's Merkle tree, for outside witnesses to keep."""

    size: int = Field(ge=0)
    root: str = Field(description="The RFC 9162 Merkle tree hash, lowercase hex.")
    timestamp: datetime
    signature: str = Field(description="Ed25519 signature, base64; see GET /v1/audit/public-key.")
    key_id: str


class DeploymentReported(BaseModel):
    """A CI/CD deployment as reported by a pipeline or a provider's webhook, normalized."""

    deployment_id: UUID = Field(description="Intake's id of the report.")
    provider: str = Field(description="`generic`, `github`, `gitlab` or `argocd`.")
    external_id: str | None = Field(default=None, description="The provider's delivery id.")
    service: str
    environment: str
    version: str | None = None
    status: DeploymentStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pipeline_url: str | None = None
    commit: str | None = None
    change_id: UUID | None = Field(
        default=None, description="The change the deployment belongs to, when one was found."
    )
    correlation: str = Field(
        description="How the change was found: `explicit` (named by the report), "
        "`unknown_change` (named, but intake has no such change), `window` (the change of "
        "that service and environment whose window contains the deployment) or `none`."
    )
    unauthorized: bool = Field(
        description="A production deployment without an approved change: recorded, not rejected."
    )
    reported_by: str = Field(description="The token subject, or `webhook:<provider>`.")


class Severity(StrEnum):
    """How bad an incident is: sev1 (worst, e.g. PagerDuty's P1) to sev5."""

    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"
    SEV5 = "sev5"


class ActionItemStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"


class IncidentRecorded(BaseModel):
    """An incident on a service and environment (subject: the incident id)."""

    incident_id: UUID
    service: str
    environment: str
    severity: Severity
    title: str
    started_at: datetime
    resolved_at: datetime | None = None
    external_url: str | None = None
    source: str = Field(description="`api`, or the paging tool that reported it: `pagerduty`.")
    external_id: str | None = Field(default=None, description="The paging tool's incident id.")
    recorded_by: str


class IncidentResolved(BaseModel):
    """An incident is over (subject: the incident id)."""

    incident_id: UUID
    resolved_at: datetime
    resolved_by: str


class IncidentLinked(BaseModel):
    """An incident attributed to the change that caused it (subject: the change id).

    Carries no service or environment field on purpose: the ledger indexes those of the
    subject, and the subject here is the change, not the incident.
    """

    incident_id: UUID
    change_id: UUID
    origin: str = Field(description="`explicit`, or `suggested` (a suggestion confirmed).")
    reason: str
    linked_by: str


class ActionItemRecord(BaseModel):
    action_item_id: UUID
    title: str
    owner: str
    due_on: date
    status: ActionItemStatus


class RetrospectiveRecorded(BaseModel):
    """A post-change review with its action items (subject: the change id)."""

    retrospective_id: UUID
    change_id: UUID
    findings: str
    process_gaps: list[str]
    action_items: list[ActionItemRecord]
    recorded_by: str


class ActionItemUpdated(BaseModel):
    """An action item of a post-change review moved on (subject: the change id)."""

    action_item_id: UUID
    retrospective_id: UUID
    change_id: UUID
    status: ActionItemStatus
    previous_status: ActionItemStatus
    owner: str
    due_on: date
    note: str | None = None
    version: int
    updated_by: str


EVENT_PAYLOADS: dict[EventType, type[BaseModel]] = {
    EventType.CHANGE_REQUESTED: ChangeSnapshot,
    EventType.CHANGE_UPDATED: ChangeSnapshot,
    EventType.CHANGE_CANCELLED: ChangeCancelled,
    EventType.CHANGE_ASSESSED: ChangeAssessed,
    EventType.CHANGE_APPROVAL_RECORDED: ApprovalRecorded,
    EventType.CHANGE_APPROVED: ChangeApproved,
    EventType.CHANGE_REJECTED: ChangeRejected,
    EventType.CHANGE_EXECUTION_STARTED: ExecutionStarted,
    EventType.CHANGE_COMPLETED: ExecutionFinished,
    EventType.CHANGE_FAILED: ExecutionFinished,
    EventType.CHANGE_ROLLED_BACK: ExecutionFinished,
    EventType.CHANGE_ACCEPTED: ChangeAccepted,
    EventType.DEPLOYMENT_REPORTED: DeploymentReported,
    EventType.TREE_HEAD_PUBLISHED: TreeHeadPublished,
    EventType.FREEZE_WINDOW_DECLARED: FreezeWindowDeclared,
    EventType.FREEZE_WINDOW_LIFTED: FreezeWindowLifted,
    EventType.INCIDENT_RECORDED: IncidentRecorded,
    EventType.INCIDENT_RESOLVED: IncidentResolved,
    EventType.INCIDENT_LINKED: IncidentLinked,
    EventType.RETROSPECTIVE_RECORDED: RetrospectiveRecorded,
    EventType.ACTION_ITEM_UPDATED: ActionItemUpdated,
}

# The overall status each lifecycle event moves a change to.
STATUS_AFTER: dict[EventType, ChangeStatus] = {
    EventType.CHANGE_REQUESTED: ChangeStatus.SUBMITTED,
    EventType.CHANGE_ASSESSED: ChangeStatus.ASSESSED,
    EventType.CHANGE_APPROVED: ChangeStatus.APPROVED,
    EventType.CHANGE_REJECTED: ChangeStatus.REJECTED,
    EventType.CHANGE_CANCELLED: ChangeStatus.CANCELLED,
    EventType.CHANGE_EXECUTION_STARTED: ChangeStatus.IN_PROGRESS,
    EventType.CHANGE_COMPLETED: ChangeStatus.COMPLETED,
    EventType.CHANGE_FAILED: ChangeStatus.FAILED,
    EventType.CHANGE_ROLLED_BACK: ChangeStatus.ROLLED_BACK,
    EventType.CHANGE_ACCEPTED: ChangeStatus.ACCEPTED,
}
