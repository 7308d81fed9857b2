"""The stability report API: DORA keys per service and team, computed from the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.audit import reports
from services.audit.dora import Window
from services.audit.errors import InvalidQueryParameter
from services.audit.report_schemas import StabilityReportRead
from shared.auth import CurrentPrincipal
from shared.db import Session
from shared.errors import InvalidRequest, Unauthenticated, error_responses
from shared.wire import AwareTimestamp

router = APIRouter(prefix="/v1/reports", tags=["reports"])

DEFAULT_WINDOW = timedelta(days=30)
LONGEST_WINDOW = timedelta(days=366)

DEFINITIONS = """
All four keys count changes and deployments in `environment` (default `production`),
by when they happened (each event's own time), over `[window_from, window_to)`.

- A change reaches production at the earliest of its execution start and a successful
  deployment report naming it. Each such change is one deployment; so is each successful
  deployment report naming no change the ledger knows.
- Deployment frequency: deployments per day of the window.
- Lead time for changes: change requested -> reached production (median, p90 nearest rank).
- Change failure rate: deployed changes whose outcome is failed or rolled_back, or that an
  incident is linked to, over the changes deployed.
- Time to restore: incident started -> resolved; for a failed change linked to no incident,
  its end -> the end of the next successful change on the same service.
- Teams: the `service_teams` setting maps services to teams (`unowned` otherwise).

Each scope carries the previous window of the same length and the trend of every key.
"""


def _query(
    window_from: Annotated[
        AwareTimestamp | None,
        Query(description="Start (inclusive); window_to - 30 days if absent."),
    ] = None,
    window_to: Annotated[
        AwareTimestamp | None, Query(description="End (exclusive); now if absent.")
    ] = None,
    environment: Annotated[str, Query(min_length=1, max_length=64)] = "production",
    service: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    team: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> reports.ReportQuery:
    end = window_to or datetime.now(UTC)
    start = window_from or end - DEFAULT_WINDOW
    if end <= start:
        raise InvalidQueryParameter("window_to", "must be after window_from")
    if end - start > LONGEST_WINDOW:
        raise InvalidQueryParameter("window_from", "the window may span at most 366 days")
    return reports.ReportQuery(
        window=Window(start, end), environment=environment, service=service, team=team
    )


@router.get(
    "/stability",
    summary="DORA keys per service and team over a window, with their trend and open risks.",
    description=DEFINITIONS,
    responses=error_responses(Unauthenticated, InvalidRequest),
)
async def get_stability_report(
    request: Request,
    session: Session,
    principal: CurrentPrincipal,
    query: Annotated[reports.ReportQuery, Depends(_query)],
) -> StabilityReportRead:
    return await reports.stability_report(session, query, request.app.state.settings)
