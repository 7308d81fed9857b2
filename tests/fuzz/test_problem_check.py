"""The problem+json check tells a valid RFC 9457 document from the ways one goes wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fuzz.problem_check import PROBLEM_MEDIA_TYPE, problem_violations

VALID: dict[str, Any] = {
    "type": "https://changeward.dev/problems/change-not-found",
    "title": "Change not found",
    "status": 404,
    "detail": "No change 42.",
    "instance": "/v1/changes/42",
    "code": "change-not-found",
}


def test_a_valid_problem_passes() -> None:
    content = json.dumps(VALID).encode()
    assert problem_violations(404, f"{PROBLEM_MEDIA_TYPE}; charset=utf-8", content) == []


@pytest.mark.parametrize(
    ("content_type", "body", "complaint"),
    [
        ("application/json", VALID, "content-type"),
        ("text/plain", "Internal Server Error", "content-type"),
        (PROBLEM_MEDIA_TYPE, [VALID], "not an object"),
        (PROBLEM_MEDIA_TYPE, {**VALID, "status": 500}, "`status` must be 404"),
        (PROBLEM_MEDIA_TYPE, {**VALID, "status": "404"}, "`status` must be 404"),
        (PROBLEM_MEDIA_TYPE, {**VALID, "detail": None}, "`detail`"),
        (PROBLEM_MEDIA_TYPE, {**VALID, "title": ""}, "`title`"),
        (PROBLEM_MEDIA_TYPE, {**VALID, "type": "change-not-found"}, "`type` must be"),
        (PROBLEM_MEDIA_TYPE, {**VALID, "code": "other"}, "must name the `code`"),
        (PROBLEM_MEDIA_TYPE, {**VALID, "errors": "bad"}, "`errors`"),
    ],
)
def test_each_defect_is_named(content_type: str, body: object, complaint: str) -> None:
    content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    violations = problem_violations(404, content_type, content)
    assert any(complaint in violation for violation in violations), violations


def test_a_body_that_is_not_json_is_named() -> None:
    assert problem_violations(500, PROBLEM_MEDIA_TYPE, b"oops")[0].startswith("the body is not")
