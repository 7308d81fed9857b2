"""Schemathesis against every service's OpenAPI: a short run in `make test`, `make fuzz`."""

from typing import Any

from schemathesis import APIOperation, Case

# A generated request to any operation of ours.
AnyCase = Case[APIOperation[Any, Any, Any, Any]]
