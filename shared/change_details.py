"""What a change request says beyond its headline: the details of its category.

These models travel in `ChangeSnapshot` (so in `change.requested` and `change.updated`),
and the risk engine scores them, so every field says what it means.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from shared.wire import JSON_NUMBER, NOT_BLANK, Boolean, Integer


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[
    str, AfterValidator(_non_blank), Field(max_length=500, json_schema_extra=NOT_BLANK)
]

REDACTED = "[redacted]"
# Key names whose values are credentials even when the requester forgot to say so.
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|credential|private[_-]?key|api[_-]?key", re.I
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def field_error(model: str, field: str, message: str, value: Any) -> ValidationError:
    """A validation error that names `field`, raised from a model-level rule."""
    return ValidationError.from_exception_data(
        model,
        [
            InitErrorDetails(
                type=PydanticCustomError("missing", message),
                loc=(field,),
                input=value,
            )
        ],
    )


# -- hardware -------------------------------------------------------------------------------


class HardwareChangeKind(StrEnum):
    CPU_UPGRADE = "cpu_upgrade"
    RAM_UPGRADE = "ram_upgrade"
    STORAGE_UPGRADE = "storage_upgrade"
    NETWORK_DEVICE_REPLACEMENT = "network_device_replacement"
    NETWORK_FIRMWARE_UPDATE = "network_firmware_update"
    CLOUD_INSTANCE_RESIZE = "cloud_instance_resize"
    POD_COUNT_CHANGE = "pod_count_change"


class HardwareDetails(_Strict):
    """A hardware resource change: servers, network gear, cloud capacity."""

    kind: HardwareChangeKind = Field(description="What is changed on the hardware.")
    assets: list[Text] = Field(
        min_length=1,
        max_length=500,
        description="Hosts, devices, instance groups or workloads affected.",
    )
    capacity_from: Text | None = Field(
        default=None, description="Capacity before the change, e.g. `m5.large` or `6 pods`."
    )
    capacity_to: Text | None = Field(
        default=None, description="Capacity after the change, e.g. `m5.xlarge` or `12 pods`."
    )


# -- software configuration -------------------------------------------------------------------


class ConfigTarget(StrEnum):
    OS = "os"
    DATABASE = "database"
    MIDDLEWARE = "middleware"
    CLOUD_SECURITY_RULE = "cloud_security_rule"
    CLOUD_NETWORK_RULE = "cloud_network_rule"


class ConfigKeyChange(_Strict):
    """One configuration key and its values; secret values are never stored."""

    key: Text = Field(description="The parameter, setting or rule name.")
    old_value: str | None = Field(default=None, max_length=4000, description="Value before.")
    new_value: str | None = Field(default=None, max_length=4000, description="Value after.")
    secret: Boolean = Field(
        default=False,
        description=f"The values are credentials; stored and shown as `{REDACTED}`. Keys named "
        "like passwords, tokens or private keys are treated as secret whatever this says.",
    )

    @model_validator(mode="after")
    def _redact_secrets(self) -> ConfigKeyChange:
        if self.secret or _SECRET_KEY.search(self.key):
            self.secret = True
            self.old_value = None if self.old_value is None else REDACTED
            self.new_value = None if self.new_value is None else REDACTED
        return self


class SoftwareConfigDetails(_Strict):
    """A change to the configuration of an OS, database, middleware or cloud rule."""

    target: ConfigTarget = Field(description="What kind of software is reconfigured.")
    component: Text | None = Field(
        default=None, description="The instance reconfigured, e.g. `orders-postgres`."
    )
    keys: list[ConfigKeyChange] = Field(
        min_length=1, max_length=500, description="Every key changed, with old and new values."
    )
    requires_restart: Boolean = Field(
        default=False, description="Applying the change restarts the component."
    )


# -- application ------------------------------------------------------------------------------


class ApplicationChangeKind(StrEnum):
    BUG_FIX = "bug_fix"
    PERFORMANCE = "performance"
    FEATURE = "feature"
    CONFIG_HOT_UPDATE = "config_hot_update"
    DEPENDENCY_UPGRADE = "dependency_upgrade"
    DEVOPS_TOOL_UPGRADE = "devops_tool_upgrade"


class RolloutStrategy(StrEnum):
    ALL_AT_ONCE = "all_at_once"
    ROLLING = "rolling"
    BLUE_GREEN = "blue_green"
    CANARY = "canary"
    FEATURE_FLAG = "feature_flag"


class ApplicationDetails(_Strict):
    """A release of business code, its configuration, dependencies or tooling."""

    kind: ApplicationChangeKind = Field(description="What the release changes.")
    repository: Text = Field(description="Where the code lives, e.g. `github.com/acme/checkout`.")
    version_from: Text | None = Field(
        default=None, description="Version or commit running now (absent for a first release)."
    )
    version_to: Text = Field(description="Version or commit to be released.")
    rollout_strategy: RolloutStrategy = Field(description="How the release reaches production.")
    includes_schema_migration: Boolean = Field(
        default=False, description="The release migrates a database schema."
    )


# -- data -------------------------------------------------------------------------------------


class DataChangeKind(StrEnum):
    CLEANUP = "cleanup"
    MIGRATION = "migration"
    BULK_UPDATE = "bulk_update"


class LoadProtection(_Strict):
    """How the storage layer is kept from being overloaded while data changes."""

    batch_size: Integer = Field(ge=1, le=10_000_000, description="Rows per batch.")
    max_batches_per_second: Annotated[float, Field(gt=0), JSON_NUMBER] | None = Field(
        default=None, description="Throttle between batches; absent means unthrottled."
    )


class DataDetails(_Strict):
    """A cleanup, migration or bulk update of stored data."""

    kind: DataChangeKind = Field(description="What is done to the data.")
    datasets: list[Text] = Field(
        min_length=1, max_length=500, description="Databases, tables or buckets touched."
    )
    estimated_rows: Integer = Field(ge=0, description="Rows (or objects) expected to change.")
    reversible: Boolean = Field(description="The data can be restored to its previous state.")
    load_protection: LoadProtection | None = Field(
        default=None, description="Batching and throttling; absent means none."
    )


# -- traffic ----------------------------------------------------------------------------------


class TrafficChangeKind(StrEnum):
    LOAD_BALANCER_RULE = "load_balancer_rule"
    ROUTING_RULE = "routing_rule"
    EXPECTED_SPIKE = "expected_spike"


class TrafficDetails(_Strict):
    """A change in how much traffic reaches which nodes, or a known spike to prepare for."""

    kind: TrafficChangeKind = Field(description="A rule change, or an expected spike.")
    expected_peak_rps: Annotated[float, Field(ge=0), JSON_NUMBER] | None = Field(
        default=None, description="Expected peak load in requests per second."
    )
    traffic_share_percent: Annotated[float, Field(gt=0, le=100), JSON_NUMBER] | None = Field(
        default=None, description="Share of traffic the rule change moves, in %."
    )

    @model_validator(mode="after")
    def _kind_needs_its_figure(self) -> TrafficDetails:
        if self.kind is TrafficChangeKind.EXPECTED_SPIKE and self.expected_peak_rps is None:
            raise field_error(
                "TrafficDetails", "expected_peak_rps", "an expected spike needs its peak", None
            )
        if self.kind is not TrafficChangeKind.EXPECTED_SPIKE and self.traffic_share_percent is None:
            raise field_error(
                "TrafficDetails",
                "traffic_share_percent",
                "a rule change needs the share of traffic it moves",
                None,
            )
        return self


CategoryDetails = (
    HardwareDetails | SoftwareConfigDetails | ApplicationDetails | DataDetails | TrafficDetails
)

DETAILS_BY_CATEGORY: dict[str, type[BaseModel]] = {
    "hardware": HardwareDetails,
    "software_config": SoftwareConfigDetails,
    "application": ApplicationDetails,
    "data": DataDetails,
    "traffic": TrafficDetails,
}


def details_matching_category(data: Any, *, model: str) -> Any:
    """Parse raw `data["details"]` with the model of `data["category"]` (a before-validator).

    Errors keep their field paths under `details`, so a caller learns `details.kind`
    rather than which member of a union failed.
    """
    if not isinstance(data, dict):
        return data
    details, category = data.get("details"), data.get("category")
    details_model = DETAILS_BY_CATEGORY.get(str(category)) if category is not None else None
    if details is None or details_model is None or isinstance(details, details_model):
        return data
    try:
        parsed = details_model.model_validate(
            details.model_dump() if isinstance(details, BaseModel) else details
        )
    except ValidationError as error:
        raise ValidationError.from_exception_data(
            model,
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        error_detail["type"], error_detail["msg"], error_detail.get("ctx")
                    ),
                    loc=("details", *error_detail["loc"]),
                    input=error_detail["input"],
                )
                for error_detail in error.errors()
            ],
        ) from None
    return {**data, "details": parsed}
