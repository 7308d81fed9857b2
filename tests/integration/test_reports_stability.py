"""The stability report over a generated history of 120 changes, against hand-computed figures.

The history is fed through the real ledger ingest, incidents are recorded and linked over
HTTP, and every expected figure is computed here from the generating rules with plain
arithmetic (not with the report's own code).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from changeward.allinone import create_service_app
from shared.settings import Settings
from tests.support.clients import Tokens
from tests.support.ledger_feed import feed_ledger, ledger_event

CHANGES = 120
SLOT = timedelta(hours=12)
PREVIOUS_START = datetime(2025, 1, 30, tzinfo=UTC)
WINDOW_START = PREVIOUS_START + 60 * SLOT  # 2025-03-01: 60 changes in each window
WINDOW_END = WINDOW_START + 60 * SLOT


@dataclass(frozen=True)
class Spec:
    """One generated change and what happened to it."""

    index: int
    change_id: str
    services: tuple[str, ...]
    requested_at: datetime
    deployed_at: datetime
    finished_at: datetime
    outcome: str
    via_pipeline_only: bool
    pipeline_too: bool
    emergency: bool
    incident: tuple[datetime, datetime] | None  # started, resolved; linked to the change


@dataclass(frozen=True)
class Names:
    a: str
    b: str
    team: str


def generate(names: Names) -> list[Spec]:
    specs = []
    for i in range(CHANGES):
        deployed_at = PREVIOUS_START + i * SLOT + timedelta(hours=1)
        if i % 15 == 14:
            services: tuple[str, ...] = (names.a, names.b)
        else:
            services = (names.a,) if i % 3 else (names.b,)
        outcome = {3: "failed", 7: "rolled_back"}.get(i % 10, "successful")
        incident = None
        if i >= 60 and i % 10 == 5:
            started = deployed_at + timedelta(hours=1)
            incident = (started, started + (i % 3 + 1) * timedelta(minutes=20))
        specs.append(
            Spec(
                index=i,
                change_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{names.a}/changes/{i}")),
                services=services,
                requested_at=deployed_at - timedelta(hours=i % 5 + 1),
                deployed_at=deployed_at,
                finished_at=deployed_at + timedelta(minutes=30),
                outcome=outcome,
                via_pipeline_only=i % 4 == 0,
                pipeline_too=i % 4 == 1,
                emergency=i in (100, 110),
                incident=incident,
            )
        )
    return specs


def events_of(spec: Spec) -> list[Any]:
    snapshot = {"services": list(spec.services), "environment": "production", "title": "gen"}
    cid = spec.change_id
    events = [
        ledger_event("change.requested", cid, spec.requested_at, {**snapshot, "version": 1}),
        ledger_event(
            "change.approved",
            cid,
            spec.requested_at + timedelta(minutes=10),
            {
                **snapshot,
                "impact_level": "urgent" if spec.emergency else "important",
                "approvers": ["mona"],
                "emergency": spec.emergency,
                "retrospective_required": spec.emergency,
            },
            actor="mona",
        ),
    ]
    if not spec.via_pipeline_only:
        events.append(
            ledger_event("change.execution_started", cid, spec.deployed_at, snapshot, sequence=1)
        )
    for service in spec.services if spec.via_pipeline_only or spec.pipeline_too else ():
        at = spec.deployed_at + (timedelta(minutes=10) if spec.pipeline_too else timedelta())
        events.append(deployment(service, at, change_id=cid))
    finishing = {"successful": "completed", "failed": "failed", "rolled_back": "rolled_back"}
    events.append(
        ledger_event(
            f"change.{finishing[spec.outcome]}",
            cid,
            spec.finished_at,
            {"executor": "eddie"},
            sequence=2,
        )
    )
    events.append(
        ledger_event(
            "change.accepted",
            cid,
            spec.finished_at + timedelta(minutes=5),
            {"outcome": spec.outcome, "accepted_by": "eddie"},
            sequence=3,
        )
    )
    return events


def deployment(
    service: str,
    at: datetime,
    *,
    change_id: str | None = None,
    status: str = "succeeded",
    unauthorized: bool = False,
) -> Any:
    deployment_id = str(uuid.uuid4())
    data = {
        "deployment_id": deployment_id,
        "provider": "github",
        "service": service,
        "environment": "production",
        "status": status,
        "started_at": (at - timedelta(minutes=3)).isoformat(),
        "finished_at": at.isoformat(),
        "change_id": change_id,
        "correlation": "explicit" if change_id else "none",
        "unauthorized": unauthorized,
        "reported_by": "ci",
    }
    return ledger_event("deployment.reported", deployment_id, at, data)


# Unattributed deployments on B in the window: 3 finished and unauthorized, 1 still running.
def unattributed(names: Names) -> list[Any]:
    moments = [WINDOW_START + timedelta(days=d, hours=5) for d in (2, 9, 20)]
    return [deployment(names.b, at, unauthorized=True) for at in moments] + [
        deployment(names.b, WINDOW_START + timedelta(days=3), status="in_progress")
    ]


OPEN_INCIDENT_AT = WINDOW_START + timedelta(days=25, hours=3)


# --- the expected figures, by plain arithmetic over the specs ---


def expected(
    specs: list[Spec], names: Names, start: datetime, services: set[str]
) -> dict[str, Any]:
    end = start + 60 * SLOT
    scoped = [s for s in specs if services & set(s.services)]
    deployed = [s for s in scoped if start <= s.deployed_at < end]
    extra = 3 if names.b in services and start == WINDOW_START else 0
    leads = sorted((s.deployed_at - s.requested_at).total_seconds() for s in deployed)
    failed = [s for s in deployed if s.outcome != "successful" or s.incident is not None]
    restores = []
    unrestored = 0
    for s in deployed:
        if s.incident is not None:
            restores.append((s.incident[1] - s.incident[0]).total_seconds())
    if names.a in services and start == WINDOW_START:
        unrestored += 1  # the open incident on A
    for s in deployed:
        if s.outcome == "successful" or s.incident is not None:
            continue
        fixed_at: datetime | None = s.finished_at
        for service in sorted(services & set(s.services)):
            later = [
                t.finished_at
                for t in specs
                if t.outcome == "successful"
                and service in t.services
                and t.finished_at > s.finished_at
            ]
            if not later:
                fixed_at = None
                break
            fixed_at = max(s.finished_at if fixed_at is None else fixed_at, min(later))
        if fixed_at is None:
            unrestored += 1
        else:
            restores.append((fixed_at - s.finished_at).total_seconds())
    restores.sort()
    return {
        "deployments": len(deployed) + extra,
        "per_day": (len(deployed) + extra) / 30,
        "lead_median": hand_median(leads),
        "lead_p90": leads[math.ceil(0.9 * len(leads)) - 1],
        "changes_deployed": len(deployed),
        "changes_failed": len(failed),
        "cfr": len(failed) / len(deployed),
        "restore_count": len(restores),
        "restore_median": hand_median(restores),
        "unrestored": unrestored,
        "unauthorized": extra,
    }


def hand_median(values: list[float]) -> float:
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def assert_figures(figures: dict[str, Any], want: dict[str, Any]) -> None:
    assert figures["deployments"] == want["deployments"]
    assert figures["deployment_frequency_per_day"] == pytest.approx(want["per_day"])
    assert figures["lead_time"]["count"] == want["changes_deployed"]
    assert figures["lead_time"]["median_seconds"] == pytest.approx(want["lead_median"])
    assert figures["lead_time"]["p90_seconds"] == pytest.approx(want["lead_p90"])
    assert figures["changes_deployed"] == want["changes_deployed"]
    assert figures["changes_failed"] == want["changes_failed"]
    assert figures["change_failure_rate"] == pytest.approx(want["cfr"])
    assert figures["time_to_restore"]["count"] == want["restore_count"]
    assert figures["time_to_restore"]["median_seconds"] == pytest.approx(want["restore_median"])
    assert figures["unrestored"] == want["unrestored"]
    assert figures["unauthorized_deployments"] == want["unauthorized"]


# --- the history, built once for the module ---


@dataclass
class Generated:
    names: Names
    specs: list[Spec]
    team_client: httpx.AsyncClient


@pytest.fixture(scope="module")
async def generated(
    app: FastAPI, settings: Settings, database_url: str, tokens: Tokens
) -> AsyncIterator[Generated]:
    suffix = uuid.uuid4().hex[:8]
    names = Names(a=f"gen-a-{suffix}", b=f"gen-b-{suffix}", team=f"gen-team-{suffix}")
    specs = generate(names)
    events = [event for spec in specs for event in events_of(spec)] + unattributed(names)
    await feed_ledger(app, events)
    transport = httpx.ASGITransport(app=app)
    eddie = tokens.headers("eddie", "executor")
    async with httpx.AsyncClient(transport=transport, base_url="http://changeward") as client:
        for spec in specs:
            if spec.incident is None:
                continue
            started, resolved = spec.incident
            response = await client.post(
                "/v1/incidents",
                json={
                    "service": spec.services[0],
                    "environment": "production",
                    "severity": "sev2",
                    "title": f"errors after change {spec.index}",
                    "started_at": started.isoformat(),
                    "resolved_at": resolved.isoformat(),
                    "change_id": spec.change_id,
                },
                headers=eddie,
            )
            assert response.status_code == 201, response.text
        still_open = await client.post(
            "/v1/incidents",
            json={
                "service": names.a,
                "environment": "production",
                "severity": "sev3",
                "title": "intermittent 502s",
                "started_at": OPEN_INCIDENT_AT.isoformat(),
            },
            headers=eddie,
        )
        assert still_open.status_code == 201, still_open.text
    # Teams come from settings: an audit app of its own, on the same database.
    team_settings = settings.model_copy(
        update={"service_teams": {names.a: names.team, names.b: names.team}}
    )
    team_app = create_service_app("audit", team_settings, database_url)
    async with team_app.router.lifespan_context(team_app):
        transport = httpx.ASGITransport(app=team_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
            yield Generated(names, specs, client)


def window_params(**extra: str) -> dict[str, str]:
    return {"window_from": WINDOW_START.isoformat(), "window_to": WINDOW_END.isoformat(), **extra}


async def report(client: httpx.AsyncClient, tokens: Tokens, **params: str) -> dict[str, Any]:
    response = await client.get(
        "/v1/reports/stability",
        params=window_params(**params),
        headers=tokens.headers("ava", "auditor"),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_each_service_matches_the_hand_computed_figures(
    generated: Generated, api: httpx.AsyncClient, tokens: Tokens
) -> None:
    names, specs = generated.names, generated.specs
    for service in (names.a, names.b):
        body = await report(api, tokens, service=service)
        assert [s["service"] for s in body["services"]] == [service]
        scope = body["services"][0]
        assert scope["team"] == "unowned"
        assert_figures(scope["current"], expected(specs, names, WINDOW_START, {service}))
        assert_figures(scope["previous"], expected(specs, names, PREVIOUS_START, {service}))
        assert body["overall"] == {key: scope[key] for key in ("current", "previous", "trend")}


async def test_a_team_counts_a_change_of_two_of_its_services_once(
    generated: Generated, tokens: Tokens
) -> None:
    names, specs = generated.names, generated.specs
    body = await report(generated.team_client, tokens, team=names.team)
    both = {names.a, names.b}
    assert_figures(body["overall"]["current"], expected(specs, names, WINDOW_START, both))
    assert_figures(body["overall"]["previous"], expected(specs, names, PREVIOUS_START, both))
    (team,) = body["teams"]
    assert team["team"] == names.team
    assert team["services"] == sorted(both)
    assert team["current"] == body["overall"]["current"]
    shared = sum(1 for s in specs if len(s.services) == 2 and s.deployed_at >= WINDOW_START)
    per_service = sum(s["current"]["changes_deployed"] for s in body["services"])
    assert per_service == body["overall"]["current"]["changes_deployed"] + shared


async def test_trend_compares_with_the_previous_window(
    generated: Generated, api: httpx.AsyncClient, tokens: Tokens
) -> None:
    names, specs = generated.names, generated.specs
    body = await report(api, tokens, service=names.a)
    now = expected(specs, names, WINDOW_START, {names.a})
    before = expected(specs, names, PREVIOUS_START, {names.a})
    trend = body["overall"]["trend"]
    # Incidents only happen in the current window: more of A's changes fail than before.
    assert now["cfr"] > before["cfr"]
    assert trend["change_failure_rate"] == "worse"
    assert trend["instability_rising"] is True
    assert trend["lead_time"] == (
        "same"
        if now["lead_median"] == before["lead_median"]
        else "better"
        if now["lead_median"] < before["lead_median"]
        else "worse"
    )
    assert body["window"]["days"] == 30
    assert body["previous_window"]["start"].startswith("2025-01-30")


async def test_unauthorized_deployments_are_listed_newest_first(
    generated: Generated, api: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = await report(api, tokens, service=generated.names.b)
    listed = body["unauthorized_deployments"]
    assert listed["count"] == 3
    moments = [item["at"] for item in listed["items"]]
    assert moments == sorted(moments, reverse=True)
    assert {item["service"] for item in listed["items"]} == {generated.names.b}
    assert all(item["change_id"] is None for item in listed["items"])


async def test_emergency_changes_await_their_retrospective(
    generated: Generated, api: httpx.AsyncClient, tokens: Tokens
) -> None:
    body = await report(api, tokens, service=generated.names.a)
    awaiting = body["emergency_changes_awaiting_retrospective"]
    emergencies = [s for s in generated.specs if s.emergency and generated.names.a in s.services]
    assert awaiting["count"] == len(emergencies) == 2
    assert {item["change_id"] for item in awaiting["items"]} == {s.change_id for s in emergencies}
    assert all(item["impact_level"] == "urgent" for item in awaiting["items"])


async def test_a_window_ending_before_it_starts_is_a_422(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    response = await api.get(
        "/v1/reports/stability",
        params={"window_from": WINDOW_END.isoformat(), "window_to": WINDOW_START.isoformat()},
        headers=tokens.headers("ava", "auditor"),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "window_to"]
    naive = await api.get(
        "/v1/reports/stability",
        params={"window_from": "2025-03-01T00:00:00"},
        headers=tokens.headers("ava", "auditor"),
    )
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["loc"] == ["query", "window_from"]
