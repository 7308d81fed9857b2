"""The status read model converges whatever order events arrive in, and however often."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from changeward.allinone import SERVICES
from shared.bus import Message
from shared.contracts import EventType
from shared.events import CloudEvent, full_type, source_of
from shared.runtime import consumer_of
from tests.support.clients import CHANGE_BODY, Tokens


def _event(change_id: str, event_type: EventType, sequence: int, data: dict[str, Any]) -> Message:
    event = CloudEvent(
        source=source_of("review"),
        type=full_type(event_type),
        subject=change_id,
        sequence=sequence,
        actor="test",
        data=data,
    )
    return Message(topic="changes", key=change_id, value=event.to_json())


async def test_late_and_repeated_events_converge(
    api: httpx.AsyncClient, app: FastAPI, tokens: Tokens
) -> None:
    rita = tokens.headers("rita", "requester")
    # A draft: review never hears of it, so only the events below move it.
    change_id = (await api.post("/v1/changes", json=CHANGE_BODY, headers=rita)).json()["id"]
    deliver = consumer_of(SERVICES["intake"], app.state.database)
    approval = {"approver": "mona", "role": "change_manager", "decision": "approve"}
    approved = {
        "impact_level": "important",
        "approvers": ["mona"],
        "services": ["checkout"],
        "environment": "production",
        "window": CHANGE_BODY["window"],
    }
    assessed = {"ready": True, "readiness": [], "required_approvals": []}

    await deliver(_event(change_id, EventType.CHANGE_APPROVED, 4, approved))
    await deliver(_event(change_id, EventType.CHANGE_APPROVAL_RECORDED, 3, approval))
    # A re-assessment (sequence 2) arrives before the first one (sequence 1).
    await deliver(
        _event(change_id, EventType.CHANGE_ASSESSED, 2, {**assessed, "impact_level": "critical"})
    )
    await deliver(
        _event(change_id, EventType.CHANGE_ASSESSED, 1, {**assessed, "impact_level": "standard"})
    )
    # The same approval again, under a new event id (a producer's retry).
    await deliver(_event(change_id, EventType.CHANGE_APPROVAL_RECORDED, 3, approval))
    repeated = _event(
        change_id,
        EventType.CHANGE_EXECUTION_STARTED,
        1,
        {"executor": "eddie", "services": ["checkout"], "environment": "production"},
    )
    await deliver(repeated)
    await deliver(repeated)

    change = (await api.get(f"/v1/changes/{change_id}", headers=rita)).json()
    assert change["status"] == "in_progress"
    assert change["impact_level"] == "critical"
    assert [a["approver"] for a in change["approvals"]] == ["mona"]
    assert change["execution"]["executor"] == "eddie"
    assert change["execution"]["finished_at"] is None

    await deliver(
        _event(
            change_id,
            EventType.CHANGE_ACCEPTED,
            9,
            {"outcome": "successful", "accepted_by": "eddie"},
        )
    )
    await deliver(_event(change_id, EventType.CHANGE_COMPLETED, 8, {"executor": "eddie"}))
    change = (await api.get(f"/v1/changes/{change_id}", headers=rita)).json()
    assert change["status"] == "accepted"
    assert change["outcome"] == "successful"
    assert change["execution"]["finished_at"] is not None


async def test_an_assessment_of_an_edited_away_version_is_ignored(
    api: httpx.AsyncClient, app: FastAPI, tokens: Tokens
) -> None:
    rita = tokens.headers("rita", "requester")
    created = (await api.post("/v1/changes", json=CHANGE_BODY, headers=rita)).json()
    change_id = created["id"]
    edited = await api.patch(
        f"/v1/changes/{change_id}",
        json={"title": "Triple checkout pods for the sale"},
        headers={**rita, "If-Match": f'"{created["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    deliver = consumer_of(SERVICES["intake"], app.state.database)
    stale = {
        "impact_level": "critical",
        "ready": True,
        "readiness": [],
        "required_approvals": [],
        "assessed_version": created["version"],
    }
    await deliver(_event(change_id, EventType.CHANGE_ASSESSED, 7, stale))
    change = (await api.get(f"/v1/changes/{change_id}", headers=rita)).json()
    assert change["status"] == "draft"
    assert change["impact_level"] is None

    current = {**stale, "impact_level": "standard", "assessed_version": edited.json()["version"]}
    await deliver(_event(change_id, EventType.CHANGE_ASSESSED, 8, current))
    change = (await api.get(f"/v1/changes/{change_id}", headers=rita)).json()
    assert change["status"] == "assessed"
    assert change["impact_level"] == "standard"


async def test_the_latest_stage_shows_and_a_late_one_does_not_move_it_back(
    api: httpx.AsyncClient, app: FastAPI, tokens: Tokens
) -> None:
    rita = tokens.headers("rita", "requester")
    change_id = (await api.post("/v1/changes", json=CHANGE_BODY, headers=rita)).json()["id"]
    deliver = consumer_of(SERVICES["intake"], app.state.database)
    stage = {"stage": 2, "phase": "rollout", "name": "10%", "target_percent": 10.0, "stages": 4}
    started = _event(change_id, EventType.CHANGE_STAGE_STARTED, 5, {**stage, "started_by": "ed"})
    completed = {**stage, "completed_by": "ed", "verified": []}
    await deliver(started)
    await deliver(_event(change_id, EventType.CHANGE_STAGE_COMPLETED, 6, completed))
    await deliver(
        _event(change_id, EventType.CHANGE_STAGE_STARTED, 5, {**stage, "started_by": "ed"})
    )

    execution = (await api.get(f"/v1/changes/{change_id}", headers=rita)).json()["execution"]
    assert execution["stage"] == {
        "number": 2,
        "of": 4,
        "name": "10%",
        "phase": "rollout",
        "target_percent": 10.0,
        "status": "completed",
    }
