"""The three ways a provider webhook can be turned away, each a problem with a stable code."""

from __future__ import annotations

from shared.errors import ChangewardError, InvalidRequest, Unauthenticated


class InvalidSignature(Unauthenticated):
    code = "invalid-webhook-signature"
    title = "The webhook's signature or token does not verify"


class UnsupportedPayload(InvalidRequest):
    code = "unsupported-webhook-payload"
    title = "The webhook payload lacks what a deployment report needs"


class IgnoredEvent(ChangewardError):
    """A genuine delivery that reports no deployment: answered 202, nothing is stored.

    Providers retry or disable hooks that answer 4xx, so events we do not use are
    accepted rather than refused.
    """

    status = 202
    code = "webhook-ignored"
    title = "The webhook reports no deployment; nothing was stored"
