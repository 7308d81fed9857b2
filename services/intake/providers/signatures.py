"""Constant-time checks of webhook signatures and shared tokens."""

from __future__ import annotations

import hashlib
import hmac

from services.intake.providers.errors import InvalidSignature


def _bytes(text: str) -> bytes:
    # compare_digest refuses non-ASCII str; header values are attacker-chosen text.
    return text.encode("utf-8", "surrogatepass")


def verify_hmac_sha256(secret: str, presented: str | None, body: bytes, *, header: str) -> None:
    """`presented` must be `sha256=<hex HMAC-SHA256 of body keyed by secret>`."""
    if presented is None:
        raise InvalidSignature(f"{header} is missing; this hook must be signed with its secret.")
    scheme, separator, digest = presented.strip().partition("=")
    if scheme.lower() != "sha256" or not separator:
        raise InvalidSignature(f"{header} must have the form sha256=<hex digest>.")
    expected = hmac.new(_bytes(secret), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(_bytes(expected), _bytes(digest.lower())):
        raise InvalidSignature(f"{header} does not match the body signed with the hook's secret.")


def verify_token(expected: str, presented: str | None, *, header: str) -> None:
    """`presented` must equal the shared token."""
    if presented is None:
        raise InvalidSignature(f"{header} is missing; this hook must send its token.")
    if not hmac.compare_digest(_bytes(expected), _bytes(presented)):
        raise InvalidSignature(f"{header} does not match the configured token.")
