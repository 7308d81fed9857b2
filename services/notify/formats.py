"""A notification's body for each receiver: the CloudEvent itself, a Slack message, a Teams card.

Slack: an incoming-webhook message, `text` (the fallback shown in notifications) plus
Block Kit `blocks`. Teams: a Workflows / incoming-webhook `message` carrying one Adaptive
Card 1.4 (FactSet of the change's facts, an Open URL action).
"""

from __future__ import annotations

import json
from typing import Any

from services.notify.domain import Format
from services.notify.messages import Notification
from shared.events import CLOUDEVENTS_MEDIA_TYPE

JSON_MEDIA_TYPE = "application/json"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"

_SLACK_EMOJI = {"alarm": ":rotating_light:", "warning": ":warning:", "good": ":white_check_mark:"}
_TEAMS_COLOR = {"alarm": "Attention", "warning": "Warning", "good": "Good"}
# Slack allows at most 10 fields in a section and 150 characters in a header.
_SLACK_MAX_FIELDS = 10


def render(fmt: Format, notification: Notification, event_json: str) -> tuple[str, str]:
    """The body and its content type."""
    if fmt is Format.SLACK:
        return _dumps(slack_message(notification)), JSON_MEDIA_TYPE
    if fmt is Format.TEAMS:
        return _dumps(teams_message(notification)), JSON_MEDIA_TYPE
    return event_json, CLOUDEVENTS_MEDIA_TYPE


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _plain(notification: Notification) -> str:
    title = f": {notification.subject_title}" if notification.subject_title else ""
    return f"{notification.headline}{title}"


def slack_message(notification: Notification) -> dict[str, Any]:
    emoji = _SLACK_EMOJI.get(notification.severity, ":information_source:")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": notification.headline[:150], "emoji": True},
        }
    ]
    if notification.subject_title:
        title = _slack_escape(notification.subject_title)
        if notification.link:
            title = f"<{notification.link}|{title}>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} *{title}*"}})
    for start in range(0, len(notification.facts), _SLACK_MAX_FIELDS):
        chunk = notification.facts[start : start + _SLACK_MAX_FIELDS]
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{_slack_escape(value)}"}
                    for label, value in chunk
                ],
            }
        )
    if notification.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Changeward"},
                        "url": notification.link,
                    }
                ],
            }
        )
    return {"text": _plain(notification), "blocks": blocks}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_message(notification: Notification) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": notification.headline,
            "size": "Medium",
            "weight": "Bolder",
            "color": _TEAMS_COLOR.get(notification.severity, "Default"),
            "wrap": True,
        }
    ]
    if notification.subject_title:
        body.append({"type": "TextBlock", "text": notification.subject_title, "wrap": True})
    body.append(
        {
            "type": "FactSet",
            "facts": [{"title": label, "value": value} for label, value in notification.facts],
        }
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "fallbackText": _plain(notification),
        "body": body,
    }
    if notification.link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in Changeward", "url": notification.link}
        ]
    return {
        "type": "message",
        "summary": _plain(notification),
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}],
    }
