"""Webhook signatures: HMAC-SHA256 over `timestamp + "." + body`, Stripe-style.

Each delivery carries `Changeward-Signature: t=<unix seconds>,v1=<hex digest>`, where the
digest is HMAC-SHA256 keyed with the subscription's secret (its UTF-8 bytes) over the
ASCII timestamp, a dot, and the raw request body. A receiver recomputes the digest,
compares it in constant time, and rejects a timestamp older than a few minutes (a
replayed request) and a `Changeward-Delivery-Id` it has already processed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Changeward-Signature"
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, *, now: int, tolerance_seconds: int = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(parts.get("v1", ""), signature(secret, timestamp, body))
