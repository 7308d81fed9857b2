"""The last pass over each app's OpenAPI document: what FastAPI cannot say on its own."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from shared.errors import PROBLEM_MEDIA_TYPE, MalformedBody, Problem

PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})

Document = dict[str, Any]


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `/openapi.json`) answer the completed document."""
    generate = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is None:
            complete(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: Document) -> Document:
    hoist_inline_definitions(document)
    drop_null_from_parameters(document)
    describe_problems(document)
    require_preconditions(document)
    link_next_pages(document)
    return document


def _operations(document: Document) -> list[tuple[str, str, Document]]:
    return [
        (path, method, operation)
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def hoist_inline_definitions(document: Document) -> None:
    """Move `$defs` of schemas written inline (`openapi_extra`) into `components.schemas`.

    In OpenAPI 3.1 a `#/$defs/X` reference resolves against the whole document, where no
    `$defs` exists, so such a schema points nowhere until its definitions move up.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
        if not isinstance(node, dict):
            return
        definitions: dict[str, Any] = node.pop("$defs", {})
        if definitions:
            names = {name: _free_name(schemas, name, value) for name, value in definitions.items()}
            _point_refs_at(node, names)
            _point_refs_at(definitions, names)
            for name, value in definitions.items():
                schemas[names[name]] = value
        for value in node.values():
            visit(value)

    visit(document.get("paths", {}))


def _free_name(schemas: Document, name: str, definition: Any) -> str:
    """`name`, unless components already hold another schema of that name."""
    candidate, number = name, 1
    while candidate in schemas and schemas[candidate] != definition:
        number += 1
        candidate = f"{name}{number}"
    return candidate


def _point_refs_at(node: Any, names: dict[str, str]) -> None:
    if isinstance(node, list):
        for item in node:
            _point_refs_at(item, names)
    elif isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/" + names[ref.removeprefix("#/$defs/")]
        for value in node.values():
            _point_refs_at(value, names)


def drop_null_from_parameters(document: Document) -> None:
    """A parameter is absent or a string on the wire, never JSON `null`.

    FastAPI writes an optional parameter as `anyOf: [<its schema>, {"type": "null"}]`; the
    `null` there describes nothing a client can send.
    """
    for _, _, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            branches = schema.get("anyOf")
            if not isinstance(branches, list):
                continue
            kept = [branch for branch in branches if branch != {"type": "null"}]
            if len(kept) == 1 and len(kept) < len(branches):
                del schema["anyOf"]
                parameter["schema"] = kept[0] | schema


def describe_problems(document: Document) -> None:
    """Every error answer is `application/problem+json` (shared/errors.py renders them all).

    FastAPI documents its own 422 as `HTTPValidationError` JSON and lists `application/json`
    beside each declared problem; neither is ever sent. A body that is not JSON is a 400.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema())
    problem_content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    for _, _, operation in _operations(document):
        responses: Document = operation.setdefault("responses", {})
        for status, response in responses.items():
            if status[:1] in "45":
                response["content"] = dict(problem_content)
                if response.get("description") == "Validation Error":
                    response["description"] = "The request is not valid"
        if "requestBody" in operation and "400" not in responses:
            responses["400"] = {"description": MalformedBody.title, "content": problem_content}
    for name in _FASTAPI_VALIDATION_SCHEMAS:  # HTTPValidationError refers to ValidationError
        if f'"#/components/schemas/{name}"' not in json.dumps(document):
            schemas.pop(name, None)


def require_preconditions(document: Document) -> None:
    """`If-Match` is required where its absence is a 428 (shared/concurrency.py).

    The parameter stays optional in Python so that its absence is that 428, not a 422.
    """
    for _, _, operation in _operations(document):
        if "428" not in operation.get("responses", {}):
            continue
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "header" and parameter.get("name", "").lower() == "if-match":
                parameter["required"] = True
                parameter["schema"] = {
                    key: value for key, value in parameter["schema"].items() if key != "anyOf"
                } | {"type": "string", "minLength": 1}


def link_next_pages(document: Document) -> None:
    """A list's `next_cursor` feeds its `cursor`: the link clients (and fuzzers) follow."""
    for _, method, operation in _operations(document):
        names = {parameter.get("name") for parameter in operation.get("parameters", [])}
        ok = operation.get("responses", {}).get("200")
        if method != "get" or "cursor" not in names or ok is None:
            continue
        ok.setdefault("links", {})["next_page"] = {
            "operationId": operation["operationId"],
            "parameters": {"cursor": "$response.body#/next_cursor"},
            "description": "The next page of the same list.",
        }
