"""The review service's queries about assessments, approvals and change outcomes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Select, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from services.review.domain import ReviewStatus
from services.review.models import Approval, Assessment, ServiceOutcome
from shared.contracts import Outcome
from shared.pagination import PageRequest, decode_cursor, encode_cursor, keyset_page

OPEN_STATUSES = (ReviewStatus.PENDING.value, ReviewStatus.APPROVED.value)


@dataclass(frozen=True)
class ReviewFilters:
    status: tuple[ReviewStatus, ...] = ()
    impact_level: str | None = None
    category: str | None = None
    service: str | None = None
    environment: str | None = None
    requester: str | None = None
    conflicted: bool | None = None


# The lock every writer of assessments holds shared (see `lock_conflicts`), and writers of
# what assessments are judged by (policies, freeze windows) hold exclusive (`lock_inputs`),
# so an assessment never goes by a policy or freeze a concurrent writer is replacing. The
# two-key form, a key space apart from the one-key conflict and policy locks.
_INPUTS_LOCK = "hashtext('review'), hashtext('assessment-inputs')"


def conflict_locks(environment: str, services: Iterable[str]) -> frozenset[str]:
    """The advisory locks that serialise conflict detection of a change: one per service it
    names in its environment, since only changes sharing one of them can conflict."""
    return frozenset(f"review-conflicts:{environment}:{service}" for service in services)


class AssessmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> AssessmentRepository:
        return cls(session)

    def _with_children(self) -> Select[Assessment]:
        return select(Assessment).options(
            selectinload(Assessment.approvals), selectinload(Assessment.waivers)
        )

    async def get(self, change_id: UUID, *, for_update: bool = False) -> Assessment | None:
        """The assessment with its approvals and waivers; `for_update` locks its row."""
        statement = self._with_children().where(Assessment.change_id == change_id)
        if for_update:
            # Refresh what an earlier unlocked read of this session already loaded.
            statement = statement.with_for_update(of=Assessment).execution_options(
                populate_existing=True
            )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def just_added(self, change_id: UUID) -> Assessment:
        """The assessment this transaction has just inserted (`add_if_absent`), whose row it
        holds: nothing can have approved or waived anything of it yet, so nothing is read."""
        statement = (
            select(Assessment)
            .options(lazyload(Assessment.approvals), lazyload(Assessment.waivers))
            .where(Assessment.change_id == change_id)
        )
        assessment = (await self.session.execute(statement)).scalar_one()
        set_committed_value(assessment, "approvals", [])
        set_committed_value(assessment, "waivers", [])
        return assessment

    async def get_many(self, change_ids: Sequence[UUID]) -> list[Assessment]:
        """Several assessments, locked, in id order (so concurrent lockers never deadlock)."""
        if not change_ids:
            return []
        statement = (
            self._with_children()
            .where(Assessment.change_id.in_(change_ids))
            .order_by(Assessment.change_id)
            .with_for_update(of=Assessment)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def add_if_absent(self, assessment: Assessment) -> bool:
        """Insert `assessment` unless its change already has one; True when inserted.

        `ON CONFLICT DO NOTHING` rather than read-then-insert, so a second
        `change.requested` for the same change is a no-op even when it races the first.
        """
        values = {
            column.key: value
            for column in Assessment.__table__.columns
            if (value := getattr(assessment, column.key)) is not None
        }
        inserted = await self.session.scalar(
            insert(Assessment)
            .values(values)
            .on_conflict_do_nothing(index_elements=[Assessment.change_id])
            .returning(Assessment.change_id)
        )
        return inserted is not None

    async def scope(self, change_id: UUID) -> tuple[str, list[str]] | None:
        """The environment and services of a change's assessment, read afresh."""
        statement = select(Assessment.environment, Assessment.services).where(
            Assessment.change_id == change_id
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row.environment, list(row.services))

    async def lock_conflicts(self, locks: Collection[str], *, timeout_ms: int) -> None:
        """Hold `locks` (see `conflict_locks`) until the transaction ends.

        First the inputs lock, shared; then `locks` in the order of their hashes, the locks'
        real identity, so two lockers never deadlock. Any lock this transaction waits for (row
        locks too) is given up after `timeout_ms`, with PostgreSQL's lock_not_available.
        """
        await self._with_timeout(f"pg_advisory_xact_lock_shared({_INPUTS_LOCK})", timeout_ms)
        if not locks:
            return
        await self.session.execute(
            text(
                "SELECT pg_advisory_xact_lock(key) FROM ("
                "SELECT DISTINCT hashtext(name) AS key"
                " FROM unnest(CAST(:names AS text[])) AS name ORDER BY key) AS ordered"
            ),
            {"names": sorted(locks)},
        )

    async def lock_inputs(self, *, timeout_ms: int) -> None:
        """Hold the inputs lock exclusively until the transaction ends: no assessment is
        written meanwhile, and none is being written when it is granted. Taken before any
        other review lock but a policy's own, so it never waits in a cycle."""
        await self._with_timeout(f"pg_advisory_xact_lock({_INPUTS_LOCK})", timeout_ms)

    async def _with_timeout(self, lock: str, timeout_ms: int) -> None:
        # CASE sets the timeout before the lock is waited for, in one round trip.
        await self.session.execute(
            text(
                "SELECT CASE WHEN set_config('lock_timeout', :timeout, true) IS NOT NULL"
                f" THEN {lock} IS NULL END"
            ),
            {"timeout": f"{timeout_ms}ms"},
        )

    async def pending_to_reassess(
        self,
        *,
        now: datetime,
        services: Sequence[str] = (),
        environment: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Assessment]:
        """Pending reviews whose window has not ended, locked in id order; narrowed to those
        sharing a service with `services` (empty: any), of `environment` (None: any) and
        overlapping [start, end) when given."""
        statement = self._with_children().where(
            Assessment.status == ReviewStatus.PENDING.value,
            Assessment.window_end_at > now,
            Assessment.snapshot.is_not(None),
        )
        if services:
            statement = statement.where(Assessment.services.overlap(list(services)))
        if environment is not None:
            statement = statement.where(Assessment.environment == environment)
        if start is not None:
            statement = statement.where(Assessment.window_end_at > start)
        if end is not None:
            statement = statement.where(Assessment.window_start_at < end)
        statement = (
            statement.order_by(Assessment.change_id)
            .with_for_update(of=Assessment)
            .execution_options(populate_existing=True)
        )
        return list((await self.session.execute(statement)).scalars().all())

    async def overlapping(
        self,
        *,
        change_id: UUID,
        services: Sequence[str],
        environment: str,
        start: datetime,
        end: datetime,
    ) -> list[UUID]:
        """Open changes sharing a service and the environment, with an overlapping window."""
        statement = select(Assessment.change_id).where(
            Assessment.change_id != change_id,
            Assessment.environment == environment,
            Assessment.services.overlap(list(services)),
            Assessment.window_start_at < end,
            Assessment.window_end_at > start,
            Assessment.status.in_(OPEN_STATUSES),
            Assessment.finished_at.is_(None),
        )
        return sorted((await self.session.execute(statement)).scalars().all())

    async def listing_as_conflict(self, change_id: UUID) -> list[UUID]:
        """The changes whose assessment lists `change_id` as a conflict."""
        statement = select(Assessment.change_id).where(Assessment.conflicts.contains([change_id]))
        return sorted((await self.session.execute(statement)).scalars().all())

    async def add_approval(self, assessment: Assessment, approval: Approval) -> None:
        assessment.approvals.append(approval)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def page(
        self, filters: ReviewFilters, page: PageRequest
    ) -> tuple[list[Assessment], str | None]:
        return await keyset_page(
            self.session,
            self._filtered(filters),
            [Assessment.created_at, Assessment.change_id],
            page,
        )

    async def pending_oldest_first(
        self, *, not_requested_by: str, after: tuple[datetime, UUID] | None, limit: int
    ) -> list[Assessment]:
        """Pending reviews someone else requested, oldest first, after the keyset `after`."""
        statement = self._with_children().where(
            Assessment.status == ReviewStatus.PENDING.value,
            Assessment.requester != not_requested_by,
        )
        if after is not None:
            statement = statement.where(
                tuple_(Assessment.created_at, Assessment.change_id) > tuple_(*after)
            )
        statement = statement.order_by(Assessment.created_at, Assessment.change_id).limit(limit)
        return list((await self.session.execute(statement)).scalars().all())

    def _filtered(self, filters: ReviewFilters) -> Select[Assessment]:
        statement = self._with_children()
        if filters.status:
            statement = statement.where(Assessment.status.in_([s.value for s in filters.status]))
        for column, value in (
            (Assessment.impact_level, filters.impact_level),
            (Assessment.category, filters.category),
            (Assessment.environment, filters.environment),
            (Assessment.requester, filters.requester),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if filters.service is not None:
            statement = statement.where(Assessment.services.contains([filters.service]))
        if filters.conflicted is not None:
            has_conflicts = func.cardinality(Assessment.conflicts) > 0
            statement = statement.where(has_conflicts if filters.conflicted else ~has_conflicts)
        return statement


class OutcomeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> OutcomeRepository:
        return cls(session)

    async def record(
        self, change_id: UUID, services: Sequence[str], outcome: Outcome, at: datetime
    ) -> None:
        if not services:
            return
        await self.session.execute(
            insert(ServiceOutcome)
            .values(
                [
                    {
                        "change_id": change_id,
                        "service": s,
                        "outcome": outcome.value,
                        "accepted_at": at,
                    }
                    for s in sorted(set(services))
                ]
            )
            .on_conflict_do_nothing()
        )

    async def failure_rate(
        self, services: Sequence[str], *, since: datetime, min_changes: int
    ) -> float | None:
        """The highest failure rate (%) among `services` with at least `min_changes` outcomes."""
        failed = func.count().filter(ServiceOutcome.outcome != Outcome.SUCCESSFUL.value)
        statement = (
            select(ServiceOutcome.service, func.count(), failed)
            .where(ServiceOutcome.service.in_(list(services)), ServiceOutcome.accepted_at >= since)
            .group_by(ServiceOutcome.service)
        )
        rates = [
            100.0 * failures / total
            for _, total, failures in (await self.session.execute(statement)).all()
            if total >= min_changes
        ]
        return round(max(rates), 1) if rates else None


def queue_cursor(assessment: Assessment) -> str:
    return encode_cursor([assessment.created_at, assessment.change_id], [datetime, UUID])


def queue_after(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    created_at, change_id = decode_cursor(cursor, [datetime, UUID])
    return created_at, change_id
