"""What receivers get: Slack and Teams shapes that say what, where, when, how risky, whom
to call, and a link; the CloudEvent itself for JSON; signatures a receiver can check."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from uuid import uuid4

from services.notify.domain import Format, NotificationType
from services.notify.formats import ADAPTIVE_CARD, render, slack_message, teams_message
from services.notify.messages import ChangeView, duration_text, notification_for
from services.notify.signing import new_secret, signature_header, verify

CHANGE = ChangeView(
    change_id=uuid4(),
    title="Double checkout pods <for the sale>",
    services=("checkout", "payments"),
    environment="production",
    window_start=datetime(2026, 12, 1, 2, tzinfo=UTC),
    window_end=datetime(2026, 12, 1, 3, tzinfo=UTC),
    impact_level="important",
    requester="rita",
    contacts=({"name": "Checkout on-call", "role": "on-call", "chat": "#checkout-oncall"},),
)
TEMPLATE = "https://changeward.example/ui/changes/{change_id}"
APPROVED = notification_for(
    NotificationType.CHANGE_APPROVED,
    {"approvers": ["mona"]},
    CHANGE,
    link_template=TEMPLATE,
)
LINK = TEMPLATE.format(change_id=CHANGE.change_id)


def _texts(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_a_slack_message_has_a_fallback_text_and_blocks_with_every_fact() -> None:
    message = slack_message(APPROVED)
    assert message["text"].startswith("Change approved: Double checkout pods")
    types = [block["type"] for block in message["blocks"]]
    assert types[0] == "header"
    assert "section" in types
    assert types[-1] == "actions"
    assert message["blocks"][-1]["elements"][0]["url"] == LINK
    text = _texts(message["blocks"])
    for expected in (
        "checkout, payments",
        "production",
        "2026-12-01 02:00 to 03:00 UTC",
        "important",
        "#checkout-oncall",
        "mona",
    ):
        assert expected in text
    # Slack's mrkdwn needs <, > and & escaped, or the title would turn into a broken link.
    assert "&lt;for the sale&gt;" in text
    for block in message["blocks"]:
        assert len(block.get("fields", [])) <= 10


def test_a_teams_message_carries_one_adaptive_card_with_a_factset_and_a_link() -> None:
    message = teams_message(APPROVED)
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    facts = {
        fact["title"]: fact["value"]
        for block in card["body"]
        if block["type"] == "FactSet"
        for fact in block["facts"]
    }
    assert facts["Services"] == "checkout, payments"
    assert facts["Environment"] == "production"
    assert facts["Window"] == "2026-12-01 02:00 to 03:00 UTC"
    assert facts["Impact"] == "important"
    assert "Checkout on-call (on-call): #checkout-oncall" in facts["Contacts"]
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open in Changeward", "url": LINK}
    ]


def test_the_json_format_is_the_cloudevent_unchanged() -> None:
    event_json = '{"specversion":"1.0","type":"io.changeward.change.approved"}'
    body, content_type = render(Format.JSON, APPROVED, event_json)
    assert body == event_json
    assert content_type == "application/cloudevents+json"
    slack_body, slack_type = render(Format.SLACK, APPROVED, event_json)
    assert slack_type == "application/json"
    assert json.loads(slack_body)["text"].startswith("Change approved")


def test_a_reminder_says_when_the_change_starts() -> None:
    reminder = notification_for(
        NotificationType.CHANGE_UPCOMING, {"lead_seconds": 5400}, CHANGE, link_template=TEMPLATE
    )
    assert reminder.headline == "Change starts in 1 h 30 min"
    assert duration_text(2 * 86400) == "2 d"
    assert duration_text(0) == "less than a minute"


def test_an_unauthorized_deployment_is_flagged_and_links_its_pipeline() -> None:
    notification = notification_for(
        NotificationType.DEPLOYMENT_REPORTED,
        {
            "service": "checkout",
            "environment": "production",
            "status": "succeeded",
            "provider": "github",
            "reported_by": "webhook:github",
            "unauthorized": True,
            "pipeline_url": "https://ci.example/run/7",
        },
        None,
        link_template=TEMPLATE,
    )
    assert notification.severity == "alarm"
    assert notification.link == "https://ci.example/run/7"
    assert dict(notification.facts)["Unauthorized"].startswith("yes")


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    secret, body, timestamp = new_secret(), b'{"a":1}', 1_790_000_000
    header = signature_header(secret, timestamp, body)
    expected = hmac.new(secret.encode(), b"1790000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t={timestamp},v1={expected}"
    assert verify(secret, header, body, now=timestamp + 10)
    assert not verify(secret, header, body + b" ", now=timestamp)
    assert not verify(secret, header, body, now=timestamp + 301)  # a replay, too late
    assert not verify("whsec_other", header, body, now=timestamp)
    assert not verify(secret, "v1=abc", body, now=timestamp)


def test_a_failed_rollout_stage_is_alarming_and_says_which_stage_and_why() -> None:
    notification = notification_for(
        NotificationType.CHANGE_STAGE_FAILED,
        {
            "stage": 2,
            "stages": 4,
            "phase": "rollout",
            "name": "10%",
            "target_percent": 10,
            "reason": "p99 over 300 ms",
        },
        CHANGE,
        link_template=TEMPLATE,
    )
    facts = dict(notification.facts)
    assert notification.severity == "alarm"
    assert notification.headline == "Rollout stage failed"
    assert facts["Stage"] == "2 of 4 (rollout): 10%"
    assert facts["Target"] == "10%"
    assert facts["Reason"] == "p99 over 300 ms"
