"""Checks a request body against the server's own OpenAPI schema before sending it.

The CLI validates with the schema the server publishes at `/openapi.json`, not with the
service's pydantic models: it must not import a service, and the server it talks to may
be older or newer than the CLI, so only the server's schema is the right one. Rules that
JSON Schema cannot say (a window ending after it starts, details matching the category)
are still checked by the server, whose 422 names the fields the same way.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match


class SchemaUnavailable(Exception):
    """The server's OpenAPI document has no JSON request body for that operation."""


def request_body_validator(openapi: dict[str, Any], path: str, method: str) -> Draft202012Validator:
    try:
        body = openapi["paths"][path][method.lower()]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
    except (KeyError, TypeError) as error:
        raise SchemaUnavailable(f"the server's OpenAPI has no body for {method} {path}") from error
    # The body schema refers to `#/components/schemas/...`: keep them in the same document.
    document = {**schema, "components": openapi.get("components", {})}
    return Draft202012Validator(document)


def body_problems(validator: Draft202012Validator, body: Any) -> list[str]:
    """One line per failing field, `window.start: ...`, sorted so reruns read the same."""
    return sorted(_describe(error) for error in validator.iter_errors(body))


def _describe(error: ValidationError) -> str:
    closest = _closest(error)
    where = ".".join(str(part) for part in closest.absolute_path) or "(the document)"
    return f"{where}: {closest.message}"


def _closest(error: ValidationError) -> ValidationError:
    """The error inside an anyOf that says most: `str | None` fails as a string, not as null."""
    informative = [
        branch
        for branch in error.context or []
        if not (branch.validator == "type" and branch.validator_value == "null")
    ]
    best = best_match(informative) if informative else None
    return error if best is None else _closest(best)
