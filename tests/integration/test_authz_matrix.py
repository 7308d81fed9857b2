"""Every route x every role (and no token) against the table in tests/support/authz.py;
ownership of a change; and separation of duties under random sequences (hypothesis, stateful).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from shared.auth import Role
from tests.support.authz import (
    CALLERS,
    EXPECTED_ACCESS,
    app_operations,
    concrete_path,
    expected_allowed,
    problem_code,
    request_body,
    was_denied,
)
from tests.support.clients import CHANGE_BODY, Tokens, eventually

T = TypeVar("T")


def test_every_route_has_an_entry_in_the_table(app: FastAPI) -> None:
    served = app_operations(app)
    assert served - EXPECTED_ACCESS.keys() == set(), "routes without an expected access entry"
    assert EXPECTED_ACCESS.keys() - served == set(), "table entries for routes that do not exist"


async def test_every_route_admits_exactly_the_roles_the_table_allows(
    app: FastAPI, api: httpx.AsyncClient, tokens: Tokens
) -> None:
    mismatches: list[str] = []
    for method, template in sorted(app_operations(app)):
        access = EXPECTED_ACCESS[(method, template)]
        for caller in CALLERS:
            headers = {} if caller is None else tokens.headers(f"matrix-{caller}", caller)
            response = await api.request(
                method, concrete_path(template), json=request_body(method), headers=headers
            )
            denied = was_denied(response)
            if denied:
                assert problem_code(response) in {"unauthenticated", "missing-role"}, response.text
            if denied == expected_allowed(access, caller):
                mismatches.append(
                    f"{method} {template} as {caller or 'no token'}: "
                    f"{response.status_code} {response.text[:160]}"
                )
    assert mismatches == []


# --- Ownership: the same role on one's own change and on someone else's. ---


async def _draft(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await api.post("/v1/changes", json=CHANGE_BODY, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _in_review(api: httpx.AsyncClient, headers: dict[str, str]) -> str:
    change_id = await _draft(api, headers)
    submitted = await api.post(f"/v1/changes/{change_id}/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    await eventually(
        lambda: api.get(f"/v1/reviews/{change_id}", headers=headers),
        lambda response: response.status_code == 200,
    )
    return change_id


async def test_only_the_requester_edits_and_submits_a_change(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    owner = tokens.headers("olga", "requester")
    other = tokens.headers("otto", "requester", "change_manager", "change_lead")
    change_id = await _draft(api, owner)
    edit = {"title": "Triple checkout pods for the sale"}

    patched = await api.patch(
        f"/v1/changes/{change_id}", json=edit, headers={**other, "If-Match": '"1"'}
    )
    assert (patched.status_code, problem_code(patched)) == (403, "not-your-change")
    submitted = await api.post(f"/v1/changes/{change_id}/submit", headers=other)
    assert (submitted.status_code, problem_code(submitted)) == (403, "not-your-change")
    unchanged = (await api.get(f"/v1/changes/{change_id}", headers=owner)).json()
    assert (unchanged["status"], unchanged["version"]) == ("draft", 1)

    patched = await api.patch(
        f"/v1/changes/{change_id}", json=edit, headers={**owner, "If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    submitted = await api.post(f"/v1/changes/{change_id}/submit", headers=owner)
    assert submitted.status_code == 200, submitted.text


async def test_a_change_is_cancelled_by_its_requester_or_by_the_process_owners(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    owner = tokens.headers("olga", "requester")
    cancellers = {
        "requester": owner,
        "change_manager": tokens.headers("mona", "change_manager"),
        "change_lead": tokens.headers("lee", "change_lead"),
    }
    strangers = [tokens.headers("otto", "requester")] + [
        tokens.headers(f"stranger-{role}", role)
        for role in (Role.EXECUTOR, Role.CAB_MEMBER, Role.AUDITOR)
    ]
    change_id = await _draft(api, owner)
    for headers in strangers:
        refused = await api.post(f"/v1/changes/{change_id}/cancel", headers=headers)
        assert (refused.status_code, problem_code(refused)) == (403, "not-your-change")
    assert (await api.get(f"/v1/changes/{change_id}", headers=owner)).json()["status"] == "draft"

    for who, headers in cancellers.items():
        fresh = await _draft(api, owner)
        cancelled = await api.post(f"/v1/changes/{fresh}/cancel", headers=headers)
        assert cancelled.status_code == 200, (who, cancelled.text)
        assert cancelled.json()["status"] == "cancelled"


async def test_the_requester_never_decides_on_their_own_change(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    # Holding every deciding role does not let the requester approve, waive or raise the impact.
    sam = tokens.headers("sam", "requester", "change_manager", "change_lead", "cab_member")
    own = await _in_review(api, sam)
    own_actions = [
        ("POST", f"/v1/reviews/{own}/approvals", {"decision": "approve"}),
        ("POST", f"/v1/reviews/{own}/approvals", {"decision": "reject", "comment": "no"}),
        ("POST", f"/v1/reviews/{own}/waivers", {"item": "plans.rollback", "reason": "tested"}),
        ("PUT", f"/v1/reviews/{own}/impact-level", {"impact_level": "critical", "reason": "big"}),
    ]
    for method, path, body in own_actions:
        refused = await api.request(method, path, json=body, headers=sam)
        assert (refused.status_code, problem_code(refused)) == (403, "self-approval-forbidden")
    review = (await api.get(f"/v1/reviews/{own}", headers=sam)).json()
    assert (review["approvals"], review["status"], review["impact_level"]) == (
        [],
        "pending",
        "important",
    )

    others = await _in_review(api, tokens.headers("olga", "requester"))
    approved = await api.post(
        f"/v1/reviews/{others}/approvals", json={"decision": "approve"}, headers=sam
    )
    assert approved.status_code == 201, approved.text
    assert [a["approver"] for a in approved.json()["approvals"]] == ["sam"]


# --- Separation of duties under random sequences of actions by random principals. ---

# Requesters who also hold deciding roles are the interesting ones: only ownership stops them.
PRINCIPALS: dict[str, tuple[str, ...]] = {
    "sam": ("requester", "change_manager"),
    "rob": ("requester", "change_manager", "cab_member", "change_lead"),
    "mona": ("change_manager",),
    "carl": ("cab_member",),
}
REQUESTERS = ["sam", "rob"]


def separation_machine(
    client: httpx.AsyncClient, tokens: Tokens, loop: asyncio.AbstractEventLoop
) -> type[RuleBasedStateMachine]:
    headers = {name: tokens.headers(name, *roles) for name, roles in PRINCIPALS.items()}

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=30)

    class SeparationOfDuties(RuleBasedStateMachine):
        changes = Bundle("changes")

        def __init__(self) -> None:
            super().__init__()
            self.requester_of: dict[str, str] = {}

        def _create(self, requester: str) -> str:
            change_id = run(_draft(client, headers[requester]))
            self.requester_of[change_id] = requester
            return change_id

        @initialize(target=changes, requester=st.sampled_from(REQUESTERS))
        def a_change_in_review_and_its_requester_tries_to_approve(self, requester: str) -> str:
            change_id = run(_in_review(client, headers[requester]))
            self.requester_of[change_id] = requester
            refused = run(
                client.post(
                    f"/v1/reviews/{change_id}/approvals",
                    json={"decision": "approve"},
                    headers=headers[requester],
                )
            )
            assert (refused.status_code, problem_code(refused)) == (403, "self-approval-forbidden")
            return change_id

        @rule(target=changes, requester=st.sampled_from(REQUESTERS))
        def create(self, requester: str) -> str:
            return self._create(requester)

        @rule(change=changes, actor=st.sampled_from(sorted(PRINCIPALS)))
        def submit(self, change: str, actor: str) -> None:
            response = run(client.post(f"/v1/changes/{change}/submit", headers=headers[actor]))
            if actor != self.requester_of[change]:
                assert response.status_code == 403, response.text
            elif response.status_code == 200:
                run(
                    eventually(
                        lambda: client.get(f"/v1/reviews/{change}", headers=headers[actor]),
                        lambda reply: reply.status_code == 200,
                    )
                )

        @rule(
            change=changes,
            actor=st.sampled_from(sorted(PRINCIPALS)),
            decision=st.sampled_from(["approve", "reject"]),
        )
        def decide(self, change: str, actor: str, decision: str) -> None:
            body = {"decision": decision, "comment": f"{actor} says {decision}"}
            response = run(
                client.post(f"/v1/reviews/{change}/approvals", json=body, headers=headers[actor])
            )
            if actor == self.requester_of[change]:
                # Not in review yet (404) or already closed (409) are fine; success never is.
                assert response.status_code in {403, 404, 409}, response.text
                if response.status_code == 403:
                    assert problem_code(response) == "self-approval-forbidden"

        @rule(change=changes, actor=st.sampled_from(sorted(PRINCIPALS)))
        def cancel(self, change: str, actor: str) -> None:
            response = run(client.post(f"/v1/changes/{change}/cancel", headers=headers[actor]))
            if actor == "carl" and self.requester_of[change] != "carl":
                assert response.status_code == 403, response.text

        @invariant()
        def no_review_counts_its_requesters_decision(self) -> None:
            for change_id, requester in self.requester_of.items():
                response = run(client.get(f"/v1/reviews/{change_id}", headers=headers["mona"]))
                if response.status_code == 404:
                    continue
                assert response.status_code == 200, response.text
                review = response.json()
                assert review["requester"] == requester
                approvers = {approval["approver"] for approval in review["approvals"]}
                assert requester not in approvers, review

    return SeparationOfDuties


async def test_no_sequence_of_actions_lets_a_requester_decide_on_their_own_change(
    api: httpx.AsyncClient, tokens: Tokens
) -> None:
    machine = separation_machine(api, tokens, asyncio.get_running_loop())
    machine.TestCase.settings = settings(
        max_examples=10,
        stateful_step_count=10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    await asyncio.to_thread(machine.TestCase().runTest)
