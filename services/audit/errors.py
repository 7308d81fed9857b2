"""The audit service's errors, in the shared problem+json hierarchy."""

from __future__ import annotations

from shared.errors import ChangewardError, Conflict, InvalidRequest, NotFound, Unauthenticated


class InvalidQueryParameter(InvalidRequest):
    """A 422 naming the offending query parameter, as validation errors do."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(
            f"Invalid fields: query.{parameter}",
            errors=[{"loc": ["query", parameter], "msg": message, "type": "value_error"}],
        )


class LedgerInconsistent(Conflict):
    code = "ledger-inconsistent"
    title = "The ledger no longer extends its last signed tree head"


class TreeHeadTampered(LedgerInconsistent):
    """The latest signed head was altered in the database; `tree_head` names its row."""

    code = "tree-head-tampered"
    title = "The latest signed tree head was altered in the database"


class TreeNodesMissing(LedgerInconsistent):
    """Stored Merkle nodes of the signed tree are gone: inclusion proofs cannot be built."""

    code = "tree-nodes-missing"
    title = "Merkle nodes of the signed tree are missing from the ledger"


class ChangeUnknownToLedger(NotFound):
    code = "change-not-found"
    title = "The ledger has no events of this change"


class IncidentNotFound(NotFound):
    code = "incident-not-found"
    title = "Incident not found"


class IncidentAlreadyResolved(Conflict):
    code = "incident-already-resolved"
    title = "The incident is already resolved"


class IncidentAlreadyLinked(Conflict):
    code = "incident-already-linked"
    title = "The incident is already linked to this change"


class RetrospectiveNotFound(NotFound):
    code = "retrospective-not-found"
    title = "Post-change review not found"


class RetrospectiveExists(Conflict):
    code = "retrospective-exists"
    title = "The change already has a post-change review"


class ActionItemNotFound(NotFound):
    code = "action-item-not-found"
    title = "Action item not found"


class InvalidWebhookSignature(Unauthenticated):
    code = "invalid-webhook-signature"
    title = "The webhook's signature does not verify"


class UnsupportedIncidentPayload(InvalidRequest):
    code = "unsupported-webhook-payload"
    title = "The webhook payload lacks what an incident needs"


class IgnoredWebhookEvent(ChangewardError):
    """A genuine delivery about something other than an incident opening or closing.

    Paging tools disable hooks that keep answering 4xx, so it is accepted, not refused.
    """

    status = 202
    code = "webhook-ignored"
    title = "The webhook reports no incident opening or resolution; nothing was stored"
