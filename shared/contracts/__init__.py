"""What the services agree on: enums, the change snapshot, and each event's payload.

Every payload here is a pydantic model, so each event type has a JSON Schema.
"""

from __future__ import annotations

from pydantic import BaseModel

from shared.contracts.audit import (
    ActionItemRecord,
    ActionItemUpdated,
    IncidentLinked,
    IncidentRecorded,
    IncidentResolved,
    RetrospectiveRecorded,
    TreeHeadPublished,
)
from shared.contracts.change import (
    PRODUCTION_ENVIRONMENTS,
    ChangeSnapshot,
    NonBlank,
    Plans,
    Window,
    is_production,
)
from shared.contracts.enums import (
    ActionItemStatus,
    Category,
    ChangeStatus,
    Decision,
    DeploymentStatus,
    EventType,
    ImpactLevel,
    Outcome,
    RiskDimension,
    Severity,
    StagePhase,
)
from shared.contracts.execution import (
    ChangeAccepted,
    ExecutionFinished,
    ExecutionStarted,
    GateChecked,
    GateReason,
    StageCompleted,
    StageFailed,
    StageReport,
    StageStarted,
)
from shared.contracts.intake import (
    ChangeCancelled,
    DeploymentReported,
)
from shared.contracts.review import (
    ApprovalRecorded,
    ChangeApproved,
    ChangeAssessed,
    ChangeRejected,
    FreezeWindowDeclared,
    FreezeWindowLifted,
    ImpactOverride,
    PolicyUpdated,
    ReadinessItem,
    ReadinessWaived,
    RequiredApproval,
    RiskBreakdown,
    RuleFired,
)

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
    EventType.CHANGE_READINESS_WAIVED: ReadinessWaived,
    EventType.POLICY_UPDATED: PolicyUpdated,
    EventType.CHANGE_STAGE_STARTED: StageStarted,
    EventType.CHANGE_STAGE_COMPLETED: StageCompleted,
    EventType.CHANGE_STAGE_FAILED: StageFailed,
    EventType.CHANGE_GATE_CHECKED: GateChecked,
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


__all__ = [
    "PRODUCTION_ENVIRONMENTS",
    "is_production",
    "ActionItemRecord",
    "ActionItemStatus",
    "ActionItemUpdated",
    "ApprovalRecorded",
    "Category",
    "ChangeAccepted",
    "ChangeApproved",
    "ChangeAssessed",
    "ChangeCancelled",
    "ChangeRejected",
    "ChangeSnapshot",
    "ChangeStatus",
    "Decision",
    "DeploymentReported",
    "DeploymentStatus",
    "EVENT_PAYLOADS",
    "EventType",
    "ExecutionFinished",
    "ExecutionStarted",
    "FreezeWindowDeclared",
    "FreezeWindowLifted",
    "GateChecked",
    "GateReason",
    "ImpactLevel",
    "ImpactOverride",
    "IncidentLinked",
    "IncidentRecorded",
    "IncidentResolved",
    "NonBlank",
    "Outcome",
    "Plans",
    "PolicyUpdated",
    "ReadinessItem",
    "ReadinessWaived",
    "RequiredApproval",
    "RetrospectiveRecorded",
    "RiskBreakdown",
    "RiskDimension",
    "RuleFired",
    "STATUS_AFTER",
    "Severity",
    "StageCompleted",
    "StageFailed",
    "StagePhase",
    "StageReport",
    "StageStarted",
    "TreeHeadPublished",
    "Window",
]
