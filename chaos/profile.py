"""How big a run is: the full one of `make chaos`, and the short one inside `make test`."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Profile:
    name: str
    # Changes walked through the whole lifecycle (six requests each).
    requests: int
    faults: int
    # Changes started per second, whatever the answers (open loop).
    rate: float
    seed: int = 8
    # After the drive: how long events may take to reach the ledger before the checks run.
    settle_timeout_s: float = 180.0

    @property
    def drive_s(self) -> float:
        return self.requests / self.rate

    @property
    def budget_s(self) -> float:
        """The hard limit of a run, startup and checks included."""
        return self.drive_s * 1.5 + self.settle_timeout_s + 300.0

    def but(self, **changes: object) -> Profile:
        return replace(self, **changes)  # type: ignore[arg-type]


FULL = Profile(name="full", requests=5000, faults=40, rate=5.0)
SHORT = Profile(name="short", requests=200, faults=12, rate=3.5, settle_timeout_s=90.0)
