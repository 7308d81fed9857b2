"""Response bodies of the stability reports."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field

from services.audit.dora import Direction
from services.audit.retrospective_schemas import ActionItemRead

T = TypeVar("T")


class DurationsRead(BaseModel):
    count: int
    median_seconds: float | None
    p90_seconds: float | None = Field(description="90th percentile, nearest rank.")


class FiguresRead(BaseModel):
    """The four DORA keys over one window (definitions in the route's description)."""

    deployments: int
    deployment_frequency_per_day: float
    lead_time: DurationsRead = Field(description="Change requested -> reached production.")
    changes_deployed: int
    changes_failed: int = Field(description="Outcome failed or rolled back, or incident-linked.")
    change_failure_rate: float | None = Field(description="Null when no change was deployed.")
    time_to_restore: DurationsRead
    unrestored: int = Field(description="Incidents still open, failures not yet fixed.")
    unauthorized_deployments: int


class TrendRead(BaseModel):
    deployment_frequency: Direction
    lead_time: Direction
    change_failure_rate: Direction
    time_to_restore: Direction
    instability_rising: bool = Field(
        description="Change failure rate or time to restore worse than in the previous window."
    )


class ScopeRead(BaseModel):
    current: FiguresRead
    previous: FiguresRead = Field(description="The window of the same length just before.")
    trend: TrendRead


class ServiceStabilityRead(ScopeRead):
    service: str
    team: str


class TeamStabilityRead(ScopeRead):
    team: str
    services: list[str]


class WindowRead(BaseModel):
    start: datetime
    end: datetime
    days: float


class Listing(BaseModel, Generic[T]):
    count: int = Field(description="How many there are; `items` holds the first ones.")
    items: list[T]


class UnauthorizedDeploymentRead(BaseModel):
    deployment_id: UUID
    service: str
    environment: str
    at: datetime
    change_id: UUID | None
    provider: str | None
    reported_by: str | None


class AwaitingRetrospectiveRead(BaseModel):
    change_id: UUID
    services: list[str]
    environment: str | None
    impact_level: str | None
    approved_at: datetime
    approvers: list[str]


class StabilityReportRead(BaseModel):
    environment: str
    service: str | None
    team: str | None
    window: WindowRead
    previous_window: WindowRead
    overall: ScopeRead
    services: list[ServiceStabilityRead]
    teams: list[TeamStabilityRead]
    unauthorized_deployments: Listing[UnauthorizedDeploymentRead] = Field(
        description="Unauthorized deployments in the window, newest first."
    )
    emergency_changes_awaiting_retrospective: Listing[AwaitingRetrospectiveRead] = Field(
        description="As of now: emergency changes approved with no post-change review yet."
    )
    overdue_action_items: Listing[ActionItemRead] = Field(
        description="As of today: open action items past their due date, most overdue first."
    )
