"""The readiness checklist: is the change prepared well enough to be approved? No I/O.

Each item passes or fails with its reason; a change_manager may waive a failing one.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.review.catalog import ServiceCatalog
from services.review.risk.facts import sub_kind
from services.review.risk.policy import ReadinessSettings
from shared.change_details import DataDetails
from shared.contracts import ChangeSnapshot, ImpactLevel, Plans, ReadinessItem

PLACEHOLDERS = frozenset({"tbd", "todo", "n/a", "na", "none", "-", "...", "?", "later"})

# Sub-kinds that undo themselves by re-applying the previous value (scale back, flip back).
TRIVIALLY_REVERSIBLE = frozenset(
    {"pod_count_change", "cloud_instance_resize", "load_balancer_rule", "routing_rule"}
)


def _item(name: str, passed: bool, reason: str) -> ReadinessItem:
    return ReadinessItem(name=name, status="pass" if passed else "fail", reason=reason)


def checklist(
    change: ChangeSnapshot,
    *,
    level: ImpactLevel,
    settings: ReadinessSettings,
    catalog: ServiceCatalog,
) -> list[ReadinessItem]:
    items = [*_plans(change, settings), _test_evidence(change, settings)]
    items.append(_contacts(change, level, settings))
    items.append(_change_hours(change, level, catalog))
    if isinstance(change.details, DataDetails):
        items.append(
            _item(
                "data.reversible",
                change.details.reversible,
                "the data can be restored"
                if change.details.reversible
                else "the data change cannot be undone: confirm a restorable backup, then waive",
            )
        )
    return items


def with_waivers(items: list[ReadinessItem], waivers: Mapping[str, str]) -> list[ReadinessItem]:
    """Failing items that a change_manager waived become `waived`, with the waiver's reason."""
    return [
        ReadinessItem(name=item.name, status="waived", reason=f"waived: {waivers[item.name]}")
        if item.status == "fail" and item.name in waivers
        else item
        for item in items
    ]


def is_ready(items: list[ReadinessItem]) -> bool:
    return all(item.status != "fail" for item in items)


def _substantial(text: str | None, min_length: int) -> bool:
    stripped = (text or "").strip()
    return len(stripped) >= min_length and stripped.lower() not in PLACEHOLDERS


def _plans(change: ChangeSnapshot, settings: ReadinessSettings) -> list[ReadinessItem]:
    plans: Plans = change.plans
    reversible_kind = sub_kind(change) in TRIVIALLY_REVERSIBLE
    structured = {
        "implementation": len(plans.implementation_steps),
        "verification": len(plans.verification_checks),
    }
    items = []
    for name in Plans.REQUIRED:
        text = getattr(plans, name)
        if structured.get(name):
            items.append(_item(f"plan.{name}", True, f"{structured[name]} structured entries"))
        elif _substantial(text, settings.min_plan_length):
            items.append(_item(f"plan.{name}", True, f"the {name} plan is present"))
        elif name == "rollback" and reversible_kind:
            items.append(
                _item("plan.rollback", True, f"a {sub_kind(change)} is trivially reversible")
            )
        else:
            state = "missing" if not (text or "").strip() else "too thin to act on"
            items.append(
                _item(
                    f"plan.{name}",
                    False,
                    f"the {name} plan is {state} (at least {settings.min_plan_length} characters)",
                )
            )
    return items


def _test_evidence(change: ChangeSnapshot, settings: ReadinessSettings) -> ReadinessItem:
    runs = change.test_evidence
    failing = [run.suite for run in runs if run.failed > 0]
    if failing:
        return _item("test_evidence", False, f"failing suites: {', '.join(failing)}")
    if runs:
        passed = sum(run.passed for run in runs)
        return _item("test_evidence", True, f"{len(runs)} suites, {passed} tests passed")
    if change.category in settings.test_evidence_required_for:
        return _item("test_evidence", False, f"{change.category.value} changes need test evidence")
    return _item("test_evidence", True, f"not required for {change.category.value} changes")


def _contacts(
    change: ChangeSnapshot, level: ImpactLevel, settings: ReadinessSettings
) -> ReadinessItem:
    if change.contacts:
        names = ", ".join(contact.name for contact in change.contacts)
        return _item("contacts", True, f"contacts: {names}")
    if level in settings.contacts_required_for:
        return _item("contacts", False, f"{level.value} changes must name their contacts")
    return _item("contacts", True, f"none named; the requester {change.requester} is the contact")


def _change_hours(
    change: ChangeSnapshot, level: ImpactLevel, catalog: ServiceCatalog
) -> ReadinessItem:
    outside = [
        name
        for name in change.services
        if (entry := catalog.entry(name)) is not None
        and entry.change_hours is not None
        and not entry.change_hours.contains(change.window.start, change.window.end)
    ]
    if not outside:
        return _item("window.change_hours", True, "the window is inside every service's hours")
    if level is ImpactLevel.URGENT:
        return _item(
            "window.change_hours", True, f"urgent: outside the hours of {', '.join(outside)}"
        )
    return _item("window.change_hours", False, f"outside the change hours of {', '.join(outside)}")
