"""Native CI/CD webhooks (GitHub, GitLab, Argo CD) turned into one deployment report.

`parse_webhook` tells the provider by its headers, authenticates the delivery with
that provider's secret, and normalizes the payload. Each provider's module documents
where every field of the report comes from.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.intake.providers import argocd, github, gitlab
from services.intake.providers.errors import IgnoredEvent, InvalidSignature, UnsupportedPayload
from services.intake.providers.model import NormalizedDeployment, ProviderSecrets

__all__ = [
    "IgnoredEvent",
    "InvalidSignature",
    "NormalizedDeployment",
    "ProviderSecrets",
    "UnsupportedPayload",
    "parse_webhook",
]


def parse_webhook(
    headers: Mapping[str, str], body: bytes, secrets: ProviderSecrets
) -> NormalizedDeployment | None:
    """The deployment a provider's webhook reports, or None when no known provider sent it.

    None means the body is Changeward's generic format. Raises InvalidSignature (401),
    UnsupportedPayload (422) or IgnoredEvent (202: a genuine event that reports no
    deployment, to be acknowledged and not stored).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    if github.EVENT_HEADER in lowered:
        return github.parse(lowered, body, secrets.github_webhook_secret)
    if gitlab.EVENT_HEADER in lowered:
        return gitlab.parse(lowered, body, secrets.gitlab_token)
    if argocd.claims(lowered):
        return argocd.parse(lowered, body, secrets.argocd_token)
    return None
