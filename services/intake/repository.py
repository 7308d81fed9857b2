"""Every query of the intake service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Select, and_, case, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import ChangeRequest, ChangeTemplate, DeploymentReport
from shared.contracts import ChangeStatus
from shared.pagination import PageRequest, keyset_page


@dataclass(frozen=True)
class ChangeFilters:
    """Filters of the change list; each one given narrows it."""

    status: tuple[ChangeStatus, ...] = ()
    category: str | None = None
    service: str | None = None
    environment: str | None = None
    impact_level: str | None = None
    requester: str | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None
    q: str | None = None


@dataclass(frozen=True)
class DeploymentFilters:
    service: str | None = None
    environment: str | None = None
    unauthorized: bool | None = None
    change_id: UUID | None = None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ChangeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ChangeRepository:
        return cls(session)

    async def get(self, change_id: UUID, *, for_update: bool = False) -> ChangeRequest | None:
        statement = select(ChangeRequest).where(ChangeRequest.id == change_id)
        if for_update:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add(self, change: ChangeRequest) -> ChangeRequest:
        self.session.add(change)
        await self.session.flush()
        return change

    async def flush(self, change: ChangeRequest) -> ChangeRequest:
        await self.session.flush()
        return change

    async def page(
        self, filters: ChangeFilters, page: PageRequest
    ) -> tuple[list[ChangeRequest], str | None]:
        return await keyset_page(
            self.session,
            self._filtered(filters),
            [ChangeRequest.created_at, ChangeRequest.id],
            page,
        )

    @staticmethod
    def _filtered(filters: ChangeFilters) -> Select[ChangeRequest]:
        statement = select(ChangeRequest)
        if filters.status:
            statement = statement.where(ChangeRequest.status.in_([s.value for s in filters.status]))
        for column, value in (
            (ChangeRequest.category, filters.category),
            (ChangeRequest.environment, filters.environment),
            (ChangeRequest.impact_level, filters.impact_level),
            (ChangeRequest.requester, filters.requester),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if filters.service is not None:
            statement = statement.where(ChangeRequest.services.contains([filters.service]))
        if filters.window_from is not None:
            statement = statement.where(ChangeRequest.window_end_at > filters.window_from)
        if filters.window_to is not None:
            statement = statement.where(ChangeRequest.window_start_at < filters.window_to)
        if filters.q:
            statement = statement.where(
                ChangeRequest.title.ilike(f"%{_escape_like(filters.q)}%", escape="\\")
            )
        return statement

    async def covering_change(
        self, *, service: str, environment: str, at: datetime, statuses: frozenset[ChangeStatus]
    ) -> ChangeRequest | None:
        """The change of `service` in `environment` whose window contains `at`.

        A change already in progress wins over one merely approved, then the latest window.
        """
        statement = (
            select(ChangeRequest)
            .where(
                and_(
                    ChangeRequest.services.contains([service]),
                    ChangeRequest.environment == environment,
                    ChangeRequest.status.in_([s.value for s in statuses]),
                    ChangeRequest.window_start_at <= at,
                    ChangeRequest.window_end_at >= at,
                )
            )
            .order_by(
                case((ChangeRequest.status == ChangeStatus.IN_PROGRESS.value, 0), else_=1),
                ChangeRequest.window_start_at.desc(),
            )
            .limit(1)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> TemplateRepository:
        return cls(session)

    async def get(self, template_id: UUID) -> ChangeTemplate | None:
        return await self.session.get(ChangeTemplate, template_id)

    async def name_taken(self, name: str) -> bool:
        found = await self.session.scalar(
            select(ChangeTemplate.id).where(ChangeTemplate.name == name)
        )
        return found is not None

    async def add(self, template: ChangeTemplate) -> ChangeTemplate:
        self.session.add(template)
        await self.session.flush()
        await self.session.refresh(template)
        return template

    async def page(self, page: PageRequest) -> tuple[list[ChangeTemplate], str | None]:
        return await keyset_page(
            self.session,
            select(ChangeTemplate),
            [ChangeTemplate.created_at, ChangeTemplate.id],
            page,
        )


class DeploymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DeploymentRepository:
        return cls(session)

    async def get(self, deployment_id: UUID) -> DeploymentReport | None:
        return await self.session.get(DeploymentReport, deployment_id)

    async def delivered(
        self, provider: str, external_id: str, status: str
    ) -> DeploymentReport | None:
        """The report of this deployment's `status`, if the provider delivered it before."""
        statement = select(DeploymentReport).where(
            DeploymentReport.provider == provider,
            DeploymentReport.external_id == external_id,
            DeploymentReport.status == status,
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add_unless_known(self, report: DeploymentReport) -> DeploymentReport | None:
        """Insert `report`; None when a concurrent request stored the same delivery first."""
        try:
            async with self.session.begin_nested():
                self.session.add(report)
                await self.session.flush()
        except IntegrityError:
            return None
        await self.session.refresh(report)
        return report

    async def page(
        self, filters: DeploymentFilters, page: PageRequest
    ) -> tuple[list[DeploymentReport], str | None]:
        statement = select(DeploymentReport)
        for column, value in (
            (DeploymentReport.service, filters.service),
            (DeploymentReport.environment, filters.environment),
            (DeploymentReport.unauthorized, filters.unauthorized),
            (DeploymentReport.change_id, filters.change_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        return await keyset_page(
            self.session, statement, [DeploymentReport.received_at, DeploymentReport.id], page
        )
