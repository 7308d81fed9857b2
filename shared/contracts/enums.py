"""The enumerations every service agrees on."""

from __future__ import annotations

from enum import StrEnum


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


class StagePhase(StrEnum):
    ROLLOUT = "rollout"
    ROLLBACK = "rollback"


class RiskDimension(StrEnum):
    ARCHITECTURE = "architecture"
    PERFORMANCE = "performance"
    BUSINESS = "business"
    COMPLIANCE = "compliance"


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
