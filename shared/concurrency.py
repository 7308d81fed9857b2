"""Optimistic concurrency with `If-Match`: an edit names the version (ETag) it was made on."""

from __future__ import annotations

from shared.errors import ChangewardError


class PreconditionRequired(ChangewardError):
    status = 428
    code = "if-match-required"
    title = "Send If-Match with the ETag you read"


class PreconditionFailed(ChangewardError):
    status = 412
    code = "version-mismatch"
    title = "It was modified since you read it"


def etag(version: int) -> str:
    return f'"{version}"'


def check_version(if_match: str | None, version: int, *, noun: str = "change") -> None:
    """The caller must name the current version: 428 without If-Match, 412 on a stale one."""
    if if_match is None:
        raise PreconditionRequired(
            f'Read the {noun}, then send If-Match: "{version}" (its ETag).',
            current_version=version,
        )
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")}
    if "*" not in tags and str(version) not in tags:
        raise PreconditionFailed(
            f"You edited version {if_match}; the {noun} is now at version {version}. "
            "Read it again and reapply your edit.",
            current_version=version,
        )
