"""The service catalog: each service's criticality tier, owner and change hours."""

from __future__ import annotations

from datetime import datetime, time
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS = list(Weekday)


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}, e.g. `Europe/Berlin` or `UTC`") from None
    return name


def _wall_clock(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a time of day in `timezone`, without an offset, e.g. 09:00")
    return value


# A time of day on the service's clock; JSON Schema's `time` format would demand an offset.
WallClock = Annotated[
    time,
    AfterValidator(_wall_clock),
    WithJsonSchema(
        {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"}
    ),
]


class ChangeHours(BaseModel):
    """When changes to the service may happen (its working hours, in its own time zone)."""

    model_config = ConfigDict(extra="forbid")

    timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: WEEKDAYS[:5], min_length=1)
    start: WallClock = time(9)
    end: WallClock = time(17)

    @model_validator(mode="after")
    def _ordered(self) -> ChangeHours:
        if self.end <= self.start:
            raise ValueError("end must be after start (hours within one day)")
        return self

    def contains(self, start: datetime, end: datetime) -> bool:
        """The whole of [start, end] lies inside one allowed day's hours."""
        zone = ZoneInfo(self.timezone)
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        return (
            local_start.date() == local_end.date()
            and WEEKDAYS[local_start.weekday()] in self.days
            and self.start <= local_start.time()
            and local_end.time() <= self.end
        )


class CatalogService(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tier: int = Field(ge=1, le=4, description="1: business critical ... 4: internal, low impact.")
    owner: str | None = Field(default=None, max_length=200)
    change_hours: ChangeHours | None = Field(
        default=None, description="When changes may happen; absent means any time."
    )


class ServiceCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[CatalogService] = Field(default_factory=list, max_length=5000)

    @field_validator("services")
    @classmethod
    def _unique_names(cls, services: list[CatalogService]) -> list[CatalogService]:
        seen: set[str] = set()
        for service in services:
            if service.name in seen:
                raise ValueError(f"service {service.name!r} appears twice")
            seen.add(service.name)
        return services

    def entry(self, name: str) -> CatalogService | None:
        return next((service for service in self.services if service.name == name), None)

    def top_tier(self, names: list[str], default_tier: int) -> int:
        tiers = [
            entry.tier if (entry := self.entry(name)) is not None else default_tier
            for name in names
        ]
        return min(tiers, default=default_tier)


EMPTY_CATALOG = ServiceCatalog()
