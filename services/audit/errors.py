"""The audit service's errors, in the shared problem+json hierarchy."""

from __future__ import annotations

from shared.errors import Conflict, InvalidRequest


class InvalidQueryParameter(InvalidRequest):
    """A 422 naming the offending query parameter, as validation errors do."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(
            f"Invalid fields: query.{parameter}",
            errors=[{"loc": ["query", parameter], "msg": message, "type": "value_error"}],
        )


class LedgerInconsistent(Conflict):
    code = "ledger-inconsistent"
    title = "The ledger no longer extends its last signed tree head"
