"""The DORA arithmetic on small hand-computed histories, and its properties on generated ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.audit.dora import (
    ChangeRecord,
    DeploymentRecord,
    Direction,
    History,
    IncidentRecord,
    Window,
    figures,
    median,
    nearest_rank,
    trend,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WEEK = Window(T0, T0 + timedelta(days=7))
H = timedelta(hours=1)


def change(
    name: str,
    *,
    services: tuple[str, ...] = ("api",),
    requested: timedelta | None = None,
    started: timedelta | None = None,
    finished: timedelta | None = None,
    outcome: str | None = "successful",
) -> ChangeRecord:
    return ChangeRecord(
        change_id=name,
        services=services,
        requested_at=None if requested is None else T0 + requested,
        started_at=None if started is None else T0 + started,
        finished_at=None if finished is None else T0 + finished,
        outcome=outcome,
    )


def test_a_small_week_by_hand() -> None:
    history = History(
        changes=[
            # lead 2 h, fine
            change("c1", requested=0 * H, started=2 * H, finished=3 * H),
            # lead 4 h, failed at 10 h; c3 (successful, ends 30 h) restores it: 20 h
            change("c2", requested=4 * H, started=8 * H, finished=10 * H, outcome="failed"),
            # lead 6 h
            change("c3", requested=20 * H, started=26 * H, finished=30 * H),
            # lead 1 h; an incident is linked to it
            change("c4", requested=40 * H, started=41 * H, finished=42 * H),
            # requested in the week, never started: no deployment
            change("c5", requested=50 * H),
            # started before the week: not this week's
            change("c6", requested=-30 * H, started=-20 * H, finished=-19 * H),
        ],
        deployments=[
            # a pipeline report naming no change: a deployment of its own, unauthorized
            DeploymentRecord("d1", "api", T0 + 60 * H, succeeded=True, unauthorized=True),
            # a failed report is no deployment
            DeploymentRecord("d2", "api", T0 + 61 * H, succeeded=False),
            # a report naming c1 later than its execution start changes nothing
            DeploymentRecord("d3", "api", T0 + 5 * H, succeeded=True, change_id="c1"),
        ],
        incidents=[
            IncidentRecord("i1", "api", T0 + 43 * H, T0 + 43 * H + timedelta(minutes=30)),
            IncidentRecord("i2", "api", T0 + 44 * H, T0 + 45 * H, change_ids=frozenset({"c4"})),
            IncidentRecord("i3", "api", T0 + 100 * H),  # still open
        ],
    )
    week = figures(history, WEEK)
    assert week.deployments == 5  # c1..c4 and d1
    assert week.deployment_frequency_per_day == pytest.approx(5 / 7)
    assert week.lead_time.count == 4
    assert week.lead_time.median_seconds == (2 + 4) / 2 * 3600  # of 1, 2, 4, 6 hours
    assert week.lead_time.p90_seconds == 6 * 3600
    assert week.changes_deployed == 4
    assert week.changes_failed == 2  # c2 failed, c4 incident-linked
    assert week.change_failure_rate == 0.5
    # i1: 30 min, i2: 1 h, c2: 20 h; i3 open
    assert week.time_to_restore.count == 3
    assert week.time_to_restore.median_seconds == 3600
    assert week.unrestored == 1
    assert week.unauthorized_deployments == 1


def test_a_pipeline_deployment_earlier_than_execution_sets_the_production_time() -> None:
    history = History(
        changes=[change("c1", requested=0 * H, started=5 * H, finished=6 * H)],
        deployments=[DeploymentRecord("d1", "api", T0 + 3 * H, succeeded=True, change_id="c1")],
    )
    week = figures(history, WEEK)
    assert week.deployments == 1
    assert week.lead_time.median_seconds == 3 * 3600


def test_a_change_counts_once_overall_and_once_per_service() -> None:
    history = History(
        changes=[
            change("c1", services=("api", "web"), requested=0 * H, started=1 * H, finished=2 * H),
            change("c2", services=("web",), requested=0 * H, started=3 * H, finished=4 * H),
        ]
    )
    assert figures(history, WEEK).deployments == 2
    assert figures(history, WEEK, frozenset({"api"})).deployments == 1
    assert figures(history, WEEK, frozenset({"web"})).deployments == 2
    assert figures(history, WEEK, frozenset({"db"})).deployments == 0
    assert figures(history, WEEK, frozenset({"db"})).change_failure_rate is None


def test_a_failure_on_two_services_is_restored_when_both_are() -> None:
    history = History(
        changes=[
            change(
                "bad",
                services=("api", "web"),
                requested=0 * H,
                started=1 * H,
                finished=2 * H,
                outcome="rolled_back",
            ),
            change("fix-api", requested=3 * H, started=4 * H, finished=5 * H),
            change("fix-web", services=("web",), requested=3 * H, started=8 * H, finished=9 * H),
        ]
    )
    assert figures(history, WEEK).time_to_restore.median_seconds == 7 * 3600
    assert figures(history, WEEK, frozenset({"api"})).time_to_restore.median_seconds == 3 * 3600


def test_the_trend_says_which_way_each_key_went() -> None:
    before = History(
        changes=[
            change("p1", requested=-100 * H, started=-99 * H, finished=-98 * H),
            change("p2", requested=-90 * H, started=-80 * H, finished=-79 * H, outcome="failed"),
            change("p3", requested=-70 * H, started=-69 * H, finished=-68 * H),
        ]
    )
    now = History(changes=[change("c1", requested=0 * H, started=1 * H, finished=2 * H)])
    window = Window(T0, T0 + timedelta(days=5))
    combined = History(changes=[*before.changes, *now.changes])
    verdict = trend(figures(combined, window), figures(combined, window.previous()))
    assert verdict.deployment_frequency is Direction.WORSE  # 1 against 3
    assert verdict.lead_time is Direction.SAME  # 1 h against the median of 1, 10 and 1 h
    assert verdict.change_failure_rate is Direction.BETTER  # 0 against 1/3
    assert verdict.time_to_restore is Direction.UNKNOWN  # nothing failed now
    assert verdict.instability_rising is False


def test_window_arithmetic() -> None:
    assert WEEK.days == 7
    assert WEEK.previous() == Window(T0 - timedelta(days=7), T0)
    assert T0 in WEEK
    assert WEEK.end not in WEEK
    with pytest.raises(ValueError, match="ends after"):
        Window(T0, T0)


def test_median_and_nearest_rank_by_hand() -> None:
    assert median([]) is None
    assert median([5.0, 1.0, 3.0]) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert nearest_rank([15.0, 20.0, 35.0, 40.0, 50.0], 30) == 20.0
    assert nearest_rank([15.0, 20.0, 35.0, 40.0, 50.0], 90) == 50.0
    assert nearest_rank([7.0], 90) == 7.0


# --- properties ---

hours = st.integers(min_value=-200, max_value=400)


@st.composite
def histories(draw: st.DrawFn) -> History:
    changes = []
    for index in range(draw(st.integers(min_value=0, max_value=25))):
        requested = draw(hours)
        started = draw(st.none() | st.integers(min_value=requested, max_value=requested + 50))
        finished = None if started is None else started + draw(st.integers(0, 5))
        outcome = (
            None
            if started is None
            else draw(st.sampled_from(["successful", "failed", "rolled_back"]))
        )
        services = tuple(sorted(draw(st.sets(st.sampled_from(["a", "b", "c"]), min_size=1))))
        changes.append(
            change(
                f"c{index}",
                services=services,
                requested=requested * H,
                started=None if started is None else started * H,
                finished=None if finished is None else finished * H,
                outcome=outcome,
            )
        )
    names = [c.change_id for c in changes]
    incidents = [
        IncidentRecord(
            f"i{index}",
            draw(st.sampled_from(["a", "b", "c"])),
            T0 + draw(hours) * H,
            change_ids=frozenset(draw(st.lists(st.sampled_from(names), max_size=2)))
            if names
            else frozenset(),
        )
        for index in range(draw(st.integers(0, 5)))
    ]
    return History(changes=changes, incidents=incidents)


@given(histories())
def test_rates_are_shares_and_counts_add_up(history: History) -> None:
    week = figures(history, WEEK)
    assert 0 <= week.changes_failed <= week.changes_deployed <= week.deployments
    if week.change_failure_rate is not None:
        assert 0 <= week.change_failure_rate <= 1
    assert week.lead_time.count == week.changes_deployed
    if week.lead_time.count:
        assert week.lead_time.median_seconds is not None
        assert week.lead_time.p90_seconds is not None
        assert 0 <= week.lead_time.median_seconds <= week.lead_time.p90_seconds


@given(histories())
def test_a_change_is_deployed_in_at_most_one_of_two_adjacent_windows(history: History) -> None:
    now, before = figures(history, WEEK), figures(history, WEEK.previous())
    both = figures(history, Window(WEEK.previous().start, WEEK.end))
    assert both.changes_deployed == now.changes_deployed + before.changes_deployed
    assert both.changes_failed == now.changes_failed + before.changes_failed


@given(histories())
def test_services_partition_single_service_changes(history: History) -> None:
    single = History(
        changes=[c for c in history.changes if len(c.services) == 1], incidents=history.incidents
    )
    total = figures(single, WEEK).changes_deployed
    assert total == sum(figures(single, WEEK, frozenset({s})).changes_deployed for s in "abc")
