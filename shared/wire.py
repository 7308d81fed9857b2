"""Request field types that take what their JSON Schema says, and nothing else.

Pydantic's lax mode reads `true` as the integer 1, "yes" as true, and `0`, "0.5" or
"1700000000" as instants in 1970 or 2023: requests the OpenAPI document calls invalid
would be stored. Request bodies and query parameters use these types instead.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator, Field, Strict

# Years 1970-2999: what a change could mean, and safe both ways through PostgreSQL (asyncpg
# reads back 0001-01-01T00:00:00Z, its -infinity, without a timezone).
_YEARS = "(19[7-9][0-9]|2[0-9]{3})-"
_RFC3339_START = re.compile(_YEARS + r"\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_INSTANT_SCHEMA = Field(json_schema_extra={"pattern": "^" + _YEARS})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _instant(value: Any) -> Any:
    if isinstance(value, datetime) or (
        isinstance(value, str) and _RFC3339_START.match(value.strip())
    ):
        return value
    raise ValueError("must be an RFC 3339 date-time in 1970-2999, e.g. 2026-12-01T02:00:00Z")


def _day(value: Any) -> Any:
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("must be a date, e.g. 2026-12-01")


def _integer(value: Any) -> Any:
    # JSON has one number type: 3.0 is the integer 3 to JSON Schema, 3.5 is no integer.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError("must be an integer")


def _number(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError("must be a number")


# The largest PostgreSQL `integer`, the type of versions and stage numbers.
PG_INTEGER_MAX = 2**31 - 1

# As validators, for bounded optional fields: bounds must come before them, as in
# `Annotated[int, Field(ge=0), JSON_INTEGER] | None`, or the JSON Schema shows no bounds.
JSON_INTEGER = BeforeValidator(_integer)
JSON_NUMBER = BeforeValidator(_number)

# A JSON integer: not `true`, not "5", not 5.5.
Integer = Annotated[int, JSON_INTEGER]
# A JSON boolean: not 1, not "yes".
Boolean = Annotated[bool, Strict()]
# A JSON number: not `true`, not "1.5".
Number = Annotated[float, JSON_NUMBER]
# An RFC 3339 date-time string (a datetime from Python code); the timezone may be missing.
Timestamp = Annotated[datetime, BeforeValidator(_instant), _INSTANT_SCHEMA]
# An RFC 3339 date-time string with its timezone.
AwareTimestamp = Annotated[AwareDatetime, BeforeValidator(_instant), _INSTANT_SCHEMA]
# A `YYYY-MM-DD` date string.
Day = Annotated[date, BeforeValidator(_day)]

# What the `must not be blank` validators accept, said in JSON Schema: a character that is
# not `str.isspace()`. Spelled out, since `\s` differs between Python and JSON Schema (ECMA).
NOT_BLANK: dict[str, Any] = {
    "pattern": "[^\\t\\n\\u000b\\f\\r\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000]"
}
