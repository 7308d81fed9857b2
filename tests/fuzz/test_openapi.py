"""Schemathesis against the OpenAPI of every service, with every check and stateful links.

`make test` runs the short profile; `make fuzz` the full one (see tests/fuzz/profile.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hypothesis
from fastapi import FastAPI
from schemathesis import Response

from tests.fuzz import AnyCase
from tests.fuzz.conftest import Tally
from tests.fuzz.profile import current_profile
from tests.fuzz.schemas import all_in_one_schema, service_schema


def _conforms(service: str) -> Callable[..., None]:
    def test(case: AnyCase, fuzz_app: FastAPI, tally: Tally) -> None:
        tally.examples[f"{service}: {case.operation.label}"] += 1
        case.call_and_validate()

    parametrized: Callable[..., None] = service_schema(service).parametrize()(test)
    return parametrized


test_intake = _conforms("intake")
test_review = _conforms("review")
test_execution = _conforms("execution")
test_audit = _conforms("audit")
test_notify = _conforms("notify")


# Restarts of the stateful run allowed before it counts as broken (see below).
MAX_RESTARTS = 20


def test_linked_operations(fuzz_app: FastAPI, tally: Tally) -> None:
    """Ids that POSTs create flow into the GETs, PATCHes and actions on the same resources."""
    schema = all_in_one_schema()
    profile = current_profile()
    failures: list[BaseException] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            tally.stateful_scenarios += 1

        def after_call(self, response: Response, case: AnyCase) -> None:
            tally.stateful_steps[case.operation.label] += 1
            super().after_call(response, case)

        def validate_response(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().validate_response(*args, **kwargs)
            except BaseException as failure:
                failures.append(failure)  # kept, should a replay of its scenario not fail alike
                raise

    restarts = 0
    while tally.stateful_scenarios < profile.stateful_scenarios:
        settings = hypothesis.settings(
            schema.config.get_hypothesis_settings(),
            # As Schemathesis's own stateful phase: the API's answers steer which rules can
            # run next, so replaying a scenario (to shrink it) cannot draw the same steps.
            phases=[hypothesis.Phase.generate],
            max_examples=profile.stateful_scenarios - tally.stateful_scenarios,
            stateful_step_count=profile.stateful_steps,
        )
        try:
            Machine.run(settings=settings)
        except hypothesis.errors.Flaky:
            # The same: Hypothesis saw a draw go otherwise than before. Not a finding unless a
            # check failed on the way; then start afresh, as Schemathesis's runner does.
            if failures:
                raise failures[0] from None
            restarts += 1
            assert restarts <= MAX_RESTARTS, "the stateful run keeps drawing inconsistently"
            continue
        break
    assert not failures
    assert sum(tally.stateful_steps.values()) > tally.stateful_scenarios
