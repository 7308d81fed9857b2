"""Reading provider payloads: the JSON body, tolerant field types, and rules the providers share.

Payload models ignore fields they do not name, so providers may add fields freely;
the fields a report needs are validated, and every failure becomes one
UnsupportedPayload naming the fields at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from services.intake.providers.errors import UnsupportedPayload
from shared.contracts import DeploymentStatus

TERMINAL = frozenset(
    {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.CANCELLED}
)

# Go templates (Argo CD notifications) print these for a missing or nil value.
_ABSENT = frozenset({"", "<no value>", "<nil>"})


def _text(value: object) -> object:
    if isinstance(value, str):
        stripped = value.strip()
        return None if stripped in _ABSENT else stripped
    return value


def _required_text(value: object) -> object:
    value = _text(value)
    if value is None:
        raise ValueError("must not be blank")
    return value


_OFFSET_WITHOUT_COLON = re.compile(r"\s*([+-]\d{2})(\d{2})$")


def _timestamp(value: object) -> object:
    """Accept ISO 8601 and GitLab's `2021-04-28 21:50:00 +0200` / `... UTC`; naive means UTC."""
    value = _text(value)
    if not isinstance(value, str):
        return value
    text = value[: -len(" UTC")] + "+00:00" if value.endswith(" UTC") else value
    parsed = datetime.fromisoformat(_OFFSET_WITHOUT_COLON.sub(r"\1:\2", text))
    if parsed.year == 1:  # Go's zero time: the value was never set
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# The bound sits on the str alone: on the union it would be applied to None too.
Text = Annotated[Annotated[str, Field(max_length=2048)] | None, BeforeValidator(_text)]
# Prose only searched for a change reference (commit messages, descriptions): unbounded.
Prose = Annotated[str | None, BeforeValidator(_text)]
Name = Annotated[str, BeforeValidator(_required_text), Field(max_length=200)]
OptionalName = Annotated[Annotated[str, Field(max_length=200)] | None, BeforeValidator(_text)]
# The same bound a change request puts on its environment, so the two can be matched.
Environment = Annotated[str, BeforeValidator(_required_text), Field(max_length=64)]
Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp)]
ChangeId = Annotated[UUID | None, BeforeValidator(_text)]


class ProviderPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


Model = TypeVar("Model", bound=ProviderPayload)


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or UnsupportedPayload."""
    if body.startswith(b"payload="):
        raise _not_json("the body is form-encoded; set the webhook's content type to JSON")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise _not_json(f"the body is not valid JSON ({type(error).__name__})") from None
    if not isinstance(document, dict):
        raise _not_json("the body must be a JSON object")
    return document


def _not_json(reason: str) -> UnsupportedPayload:
    return UnsupportedPayload(
        f"Cannot read the webhook: {reason}.",
        errors=[{"loc": ["body"], "msg": reason, "type": "json_invalid"}],
    )


def validate(model: type[Model], document: dict[str, Any], what: str) -> Model:
    """`document` as `model`, or UnsupportedPayload naming every missing or invalid field."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        problems = error.errors(include_url=False, include_context=False, include_input=False)
        fields = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])} ({problem['msg']})"
            for problem in problems
        )
        raise UnsupportedPayload(
            f"The {what} payload is missing or has invalid fields: {fields}.",
            errors=[
                {"loc": ["body", *problem["loc"]], "msg": problem["msg"], "type": problem["type"]}
                for problem in problems
            ],
        ) from None


def unsupported_value(
    loc: tuple[str, ...], value: str, allowed: Iterable[str]
) -> UnsupportedPayload:
    path = ".".join(loc)
    expected = ", ".join(sorted(allowed))
    return UnsupportedPayload(
        f"{path} is {value!r}; expected one of: {expected}.",
        errors=[{"loc": ["body", *loc], "msg": f"expected one of: {expected}", "type": "enum"}],
    )


_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_CHANGE_REFERENCE = re.compile(
    rf"^[ \t]*change-id:[ \t]*({_UUID})[ \t]*$|changeward:[ \t]*({_UUID})(?![0-9a-fA-F-])",
    re.IGNORECASE | re.MULTILINE,
)


def find_change_id(*texts: str | None) -> UUID | None:
    """The change named by a `Change-Id: <uuid>` trailer or a `changeward:<uuid>` mention."""
    for text in texts:
        match = _CHANGE_REFERENCE.search(text) if text else None
        if match:
            return UUID(match.group(1) or match.group(2))
    return None


_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def is_commit(text: str | None) -> bool:
    return text is not None and _COMMIT.fullmatch(text) is not None


def pick_version(ref: str | None, sha: str | None, default_branch: str | None) -> str | None:
    """A tag or release branch names what was deployed; the default branch does not: its sha."""
    name = (ref or "").removeprefix("refs/tags/").removeprefix("refs/heads/")
    if name and name != default_branch and name != sha:
        return name
    return sha
