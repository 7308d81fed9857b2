"""Reading this process's Prometheus counters."""

from __future__ import annotations

from prometheus_client import REGISTRY


def consumed(schema: str, event_type: str, outcome: str) -> float:
    sample = REGISTRY.get_sample_value(
        "changeward_events_consumed_total",
        {"schema": schema, "type": event_type, "outcome": outcome},
    )
    return sample or 0.0
