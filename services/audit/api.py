"""The audit API: the ledger's timelines, search, export, tree heads, proofs and verification."""

from __future__ import annotations

import base64
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from services.audit import service, tree_heads, verification
from services.audit.errors import (
    InvalidQueryParameter,
    LedgerInconsistent,
    TreeHeadTampered,
    TreeNodesMissing,
)
from services.audit.export import as_csv, as_ndjson, export_lines
from services.audit.schemas import (
    ChangeTimelineRead,
    ConsistencyProofRead,
    InclusionProofRead,
    LedgerEntryRead,
    PublicKeyRead,
    TreeHeadRead,
    VerificationRead,
)
from services.audit.search_repository import EntryFilter, SearchRepository
from services.audit.signing import (
    TreeHeadSigner,
    load_signer,
    public_key_pem,
    raw_public_key,
)
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.contracts import ImpactLevel, Outcome
from shared.db import Session
from shared.errors import InvalidRequest, MissingRole, Unauthenticated, error_responses
from shared.pagination import Page, PageParams, decode_cursor, encode_cursor
from shared.settings import Settings
from shared.wire import Timestamp

router = APIRouter(prefix="/v1/audit", tags=["audit"])

SIGNED_MESSAGE = (
    'UTF-8 of canonical JSON {"log":"changeward-audit/1","root":"<hex>","size":N,'
    '"timestamp":"YYYY-MM-DDTHH:MM:SS.ffffffZ"} (keys sorted, no whitespace, UTC)'
)

LedgerReader = Annotated[
    Principal,
    Depends(require_roles(Role.AUDITOR, Role.CHANGE_LEAD, Role.CHANGE_MANAGER, Role.CAB_MEMBER)),
]


def _signer(request: Request) -> TreeHeadSigner:
    settings: Settings = request.app.state.settings
    return load_signer(settings.audit_signing_key, settings.data_dir)


Signer = Annotated[TreeHeadSigner, Depends(_signer)]


class _Filters:
    """The search criteria shared by `/entries` and `/export`."""

    def __init__(
        self,
        recorded_from: Annotated[
            Timestamp | None, Query(alias="from", description="Recorded at or after (ISO 8601).")
        ] = None,
        recorded_to: Annotated[
            Timestamp | None, Query(alias="to", description="Recorded before (ISO 8601).")
        ] = None,
        event_type: Annotated[
            list[str] | None, Query(alias="type", description="e.g. change.approved; repeatable.")
        ] = None,
        actor: Annotated[str | None, Query(description="Who caused the event.")] = None,
        change_id: Annotated[UUID | None, Query(description="The change (subject).")] = None,
        source: Annotated[str | None, Query(description="e.g. /changeward/review.")] = None,
        service_name: Annotated[
            str | None, Query(alias="service", description="An affected service.")
        ] = None,
        environment: Annotated[str | None, Query()] = None,
        impact_level: Annotated[ImpactLevel | None, Query()] = None,
        outcome: Annotated[Outcome | None, Query()] = None,
    ) -> None:
        for name, moment in (("from", recorded_from), ("to", recorded_to)):
            if moment is not None and moment.tzinfo is None:
                raise InvalidQueryParameter(name, "needs a timezone, e.g. 2026-12-01T00:00:00Z")
        if recorded_from and recorded_to and recorded_to <= recorded_from:
            raise InvalidQueryParameter("to", "must be after `from`")
        self.criteria = EntryFilter(
            recorded_from=recorded_from,
            recorded_to=recorded_to,
            event_types=tuple(event_type or ()),
            actor=actor,
            subject=None if change_id is None else str(change_id),
            source=source,
            service=service_name,
            environment=environment,
            impact_level=impact_level,
            outcome=outcome,
        )


Filters = Annotated[_Filters, Depends()]


@router.get(
    "/changes/{change_id}",
    summary="A change's ledger entries in ledger order (an empty list if none yet).",
    responses=error_responses(Unauthenticated, InvalidRequest),
)
async def get_change_timeline(
    change_id: UUID, session: Session, principal: CurrentPrincipal
) -> ChangeTimelineRead:
    return await service.change_timeline(session, change_id)


@router.get(
    "/entries",
    summary="Search the ledger by time, type, actor, change, service, environment, impact...",
    responses=error_responses(Unauthenticated, MissingRole, InvalidRequest),
)
async def search_entries(
    session: Session,
    principal: LedgerReader,
    filters: Filters,
    page: PageParams,
) -> Page[LedgerEntryRead]:
    """Entries come in ledger order (oldest first); new ones land after any cursor."""
    (after,) = decode_cursor(page.cursor, [int]) if page.cursor else (0,)
    found = await SearchRepository.from_session(session).search(
        filters.criteria, after=after, limit=page.limit + 1
    )
    items = found[: page.limit]
    more = len(found) > page.limit
    return Page[LedgerEntryRead](
        items=[service.to_entry_read(entry) for entry in items],
        next_cursor=encode_cursor([items[-1].sequence], [int]) if more else None,
    )


@router.get(
    "/export",
    summary="Stream matching entries with inclusion proofs against a signed tree head.",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}, "text/csv": {}}},
        **error_responses(
            Unauthenticated,
            MissingRole,
            InvalidRequest,
            LedgerInconsistent,
            TreeHeadTampered,
            TreeNodesMissing,
        ),
    },
)
async def export_entries(
    request: Request,
    session: Session,
    principal: LedgerReader,
    signer: Signer,
    filters: Filters,
    export_format: Annotated[Literal["ndjson", "csv"], Query(alias="format")] = "ndjson",
) -> StreamingResponse:
    """NDJSON: a `{"kind": "tree_head", ...}` line (the signed head every proof is against),
    one `{"kind": "entry", ...}` line per entry (`entry`, `hash`, `prev_hash`, `leaf_index`,
    `leaf_hash`, `audit_path`), then `{"kind": "end", "entries": N}`: without it, the export
    is incomplete. CSV: one row per entry, the tree head repeated on each.

    A damaged ledger is refused before anything streams, with a 409 problem an archiving
    tool cannot mistake for an export: `tree-nodes-missing` when stored Merkle nodes of the
    signed tree were deleted (whatever the filter: every proof is against that tree), and
    `tree-head-tampered` or `ledger-inconsistent` when the signed head cannot be trusted or
    extended. Should nodes be deleted while an export streams, NDJSON ends with a
    `{"kind": "error", ...}` line in place of its end line (the members of the problem it
    would have been: `type`, `title`, `status`, `detail`, `code`, ...); CSV, having no such
    row, breaks off. Either way, nothing incomplete ends like a complete export.
    """
    signed = await tree_heads.current_tree_head(session, signer)
    await tree_heads.require_stored_tree(session, signed.head.size)
    records = export_lines(request.app.state.database, filters.criteria, signed)
    if export_format == "csv":
        return StreamingResponse(as_csv(records), media_type="text/csv; charset=utf-8")
    return StreamingResponse(as_ndjson(records), media_type="application/x-ndjson")


@router.get(
    "/tree-head",
    summary="The latest signed tree head of the ledger (signed now if entries arrived since).",
    responses=error_responses(Unauthenticated, LedgerInconsistent, TreeHeadTampered),
)
async def get_tree_head(
    session: Session, principal: CurrentPrincipal, signer: Signer
) -> TreeHeadRead:
    """409 `tree-head-tampered`, naming the head's row in `tree_head`, if the latest signed
    head was altered in the database (a signing time no timestamp can hold, a signature
    that no longer verifies): no head is served or signed over it until it is restored.
    409 `ledger-inconsistent` if the ledger no longer extends it."""
    return tree_heads.to_tree_head_read(await tree_heads.current_tree_head(session, signer))


@router.get(
    "/public-key",
    summary="The Ed25519 public key that verifies tree heads, and the message it signs.",
    responses=error_responses(Unauthenticated),
)
async def get_public_key(principal: CurrentPrincipal, signer: Signer) -> PublicKeyRead:
    return PublicKeyRead(
        key_id=signer.key_id,
        public_key=base64.b64encode(raw_public_key(signer.public_key)).decode("ascii"),
        pem=public_key_pem(signer.public_key),
        signed_message=SIGNED_MESSAGE,
    )


@router.get(
    "/proofs/inclusion",
    summary="RFC 9162 inclusion proof of an entry in the tree of the first `size` entries.",
    responses=error_responses(Unauthenticated, InvalidRequest, TreeNodesMissing),
)
async def get_inclusion_proof(
    session: Session,
    principal: CurrentPrincipal,
    entry: Annotated[int, Query(ge=1, description="The entry's sequence.")],
    size: Annotated[
        int | None, Query(ge=1, description="Tree size; the ledger's if absent.")
    ] = None,
) -> InclusionProofRead:
    return await tree_heads.inclusion_proof(session, entry, size)


@router.get(
    "/proofs/consistency",
    summary="RFC 9162 consistency proof that the tree of `to` entries extends that of `from`.",
    responses=error_responses(Unauthenticated, InvalidRequest, TreeNodesMissing),
)
async def get_consistency_proof(
    session: Session,
    principal: CurrentPrincipal,
    from_size: Annotated[int, Query(alias="from", ge=0)],
    to_size: Annotated[int, Query(alias="to", ge=0)],
) -> ConsistencyProofRead:
    return await tree_heads.consistency_proof(session, from_size, to_size)


@router.get(
    "/verify",
    summary="Recompute the ledger's hash chain and Merkle tree; report every defect found.",
    response_model_exclude_none=True,
    responses=error_responses(Unauthenticated),
)
async def verify_ledger(
    session: Session, principal: CurrentPrincipal, signer: Signer
) -> VerificationRead:
    return await verification.verify_ledger(session, signer)
