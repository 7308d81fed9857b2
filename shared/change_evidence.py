"""What every change request carries besides its category's details: contacts, test
evidence, and the structured parts of its plans. Carried in `ChangeSnapshot`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from shared.change_details import Text
from shared.wire import JSON_INTEGER, Boolean, Integer, Timestamp


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(_Strict):
    """Someone to reach about the change: the requester's team, on-call, the service owner."""

    name: Text = Field(description="Person or team.")
    role: Text | None = Field(default=None, description="E.g. `on-call`, `service owner`.")
    email: str | None = Field(
        default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", description="Email address."
    )
    chat: Text | None = Field(default=None, description="Chat handle or channel, e.g. `#checkout`.")


class TestEvidence(_Strict):
    """The result of one test suite run against the change."""

    __test__ = False  # not a pytest test class, whatever its name says

    suite: Text = Field(description="Suite name, e.g. `checkout-e2e`.")
    passed: Integer = Field(ge=0, description="Tests passed.")
    failed: Integer = Field(ge=0, description="Tests failed.")
    skipped: Integer = Field(default=0, ge=0, description="Tests skipped.")
    link: HttpUrl | None = Field(default=None, description="Where the run's report is.")
    ran_at: Timestamp | None = Field(default=None, description="When the suite ran.")


class ImplementationStep(_Strict):
    """One step of the implementation plan."""

    description: Text = Field(description="What is done.")
    automated: Boolean = Field(default=False, description="A pipeline or tool performs it.")
    duration_minutes: Annotated[int, Field(ge=0, le=10_080), JSON_INTEGER] | None = Field(
        default=None, description="Expected duration."
    )


class CheckKind(StrEnum):
    METRIC = "metric"
    LOG = "log"
    SYNTHETIC = "synthetic"
    FUNCTIONAL = "functional"
    MANUAL = "manual"


class VerificationCheck(_Strict):
    """One check of the verification plan, with what counts as passing."""

    name: Text = Field(description="E.g. `checkout p99 latency`.")
    kind: CheckKind = Field(description="How the check is made.")
    expected: Text = Field(description="The passing result, e.g. `< 300 ms for 15 minutes`.")
