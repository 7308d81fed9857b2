"""The fault suite's short run: a few hundred changes through a dozen faults, every check."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.faults import FaultKind
from chaos.profile import SHORT
from chaos.run import run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.timeout(SHORT.budget_s + 120)
def test_nothing_acknowledged_is_lost_doubled_or_reordered(tmp_path: Path) -> None:
    results = run(SHORT, tmp_path, say=lambda line: None)

    assert results["failures"] == [], (results["examples"], results["fault_log"])
    assert results["requests"] == SHORT.requests
    assert results["client"]["changes_closed"] == SHORT.requests
    assert results["faults"] == SHORT.faults
    assert {kind for kind, count in results["faults_by_kind"].items() if count} == {
        kind.value for kind in FaultKind
    }
    assert (results["lost"], results["duplicated"], results["reordered"]) == (0, 0, 0)
    assert results["ledger_ok"] is True
    # Seven events per change, request to acceptance, each recorded once.
    assert results["ledger_entries"] == 7 * SHORT.requests
