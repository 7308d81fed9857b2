"""Durations as people type them: 90s, 30m, 12h, 7d."""

from __future__ import annotations

import re
from datetime import timedelta

import typer

UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not match:
        raise typer.BadParameter("use a number and a unit, e.g. 90s, 30m, 12h, 7d")
    return timedelta(**{UNITS[match[2]]: int(match[1])})
