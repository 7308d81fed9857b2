"""Streaming exports: entries with their inclusion proofs against one signed tree head.

NDJSON, one JSON object per line: first `{"kind": "tree_head", ...}` (the signed head
every proof is against), then `{"kind": "entry", ...}` per entry, then
`{"kind": "end", "entries": N}` so a truncated download is evident. Each entry line
carries `entry` (the exact canonical text that is hashed), `hash`, `prev_hash`,
`leaf_index`, `leaf_hash` and `audit_path` (RFC 9162 inclusion proof, hex). CSV carries
the same fields, the tree head repeated on each row.

The API checks that the whole signed tree is stored before it answers (a 409 problem
otherwise), so an export that starts is complete. Should Merkle nodes vanish while one
streams, it ends with `{"kind": "error", ...}` (a problem document's members) in place of
its end record; CSV, having no such row, breaks the transfer off instead.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

import structlog

from services.audit.domain import format_recorded_at
from services.audit.merkle import NodeId, inclusion_spans, nodes_needed, proof_from
from services.audit.repository import LedgerRepository
from services.audit.schemas import TreeHeadRead
from services.audit.search_repository import EntryFilter, SearchRepository
from services.audit.signing import SignedTreeHead
from services.audit.tree_heads import nodes_missing, to_tree_head_read
from services.audit.tree_repository import TreeRepository
from shared.db import Database
from shared.errors import PROBLEM_BASE, ChangewardError

log = structlog.get_logger(__name__)

EXPORT_BATCH_SIZE = 500

CSV_COLUMNS = [
    "sequence",
    "recorded_at",
    "event_type",
    "subject",
    "actor",
    "hash",
    "prev_hash",
    "leaf_index",
    "leaf_hash",
    "audit_path",
    "tree_size",
    "tree_root",
    "tree_timestamp",
    "tree_signature",
    "tree_key_id",
    "entry",
]


async def export_lines(
    database: Database, criteria: EntryFilter, signed: SignedTreeHead
) -> AsyncIterator[dict[str, Any]]:
    """The export's records, entries read in one snapshot and proven against `signed`."""
    head = to_tree_head_read(signed)
    yield {"kind": "tree_head", **head.model_dump(mode="json")}
    count = 0
    async with database.sessionmaker() as session, session.begin():
        await LedgerRepository.from_session(session).read_one_snapshot()
        search, trees = SearchRepository.from_session(session), TreeRepository.from_session(session)
        after = 0
        size = signed.head.size
        while batch := await search.search(
            criteria, after=after, limit=EXPORT_BATCH_SIZE, up_to=size
        ):
            spans = {e.sequence: inclusion_spans(e.sequence - 1, size) for e in batch}
            wanted = nodes_needed(s for entry_spans in spans.values() for s in entry_spans)
            wanted |= {NodeId(0, e.sequence - 1) for e in batch}
            nodes = await trees.nodes(wanted)
            complete = wanted <= nodes.keys()
            for entry in batch:
                leaf = NodeId(0, entry.sequence - 1)
                missing: set[NodeId] = (
                    set() if complete else nodes_needed(spans[entry.sequence]) | {leaf}
                )
                if missing := missing - nodes.keys():
                    # Deleted since the API found the tree whole: the entries so far stand.
                    yield error_record(nodes_missing(size, len(missing), min(missing)))
                    return
                yield {
                    "kind": "entry",
                    "sequence": entry.sequence,
                    "entry": entry.entry,
                    "hash": entry.hash,
                    "prev_hash": entry.prev_hash,
                    "leaf_index": entry.sequence - 1,
                    "leaf_hash": nodes[leaf].hex(),
                    "audit_path": [h.hex() for h in proof_from(spans[entry.sequence], nodes)],
                }
            count += len(batch)
            after = batch[-1].sequence
    yield {"kind": "end", "entries": count}


def error_record(error: ChangewardError) -> dict[str, Any]:
    """The record that ends an export which cannot go on: the problem it would have been."""
    log.error("export broken off", code=error.code, detail=error.detail)
    return {
        "kind": "error",
        "type": PROBLEM_BASE + error.code,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        **error.extensions,
    }


class ExportBrokenOff(RuntimeError):
    """Raised to break a CSV transfer off: a CSV file cannot say it ends in an error."""


async def as_ndjson(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    async for record in records:
        yield (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


async def as_csv(records: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    head: TreeHeadRead | None = None
    yield _csv_row(CSV_COLUMNS)
    async for record in records:
        if record["kind"] == "tree_head":
            head = TreeHeadRead.model_validate(record)
        elif record["kind"] == "error":
            raise ExportBrokenOff(record["detail"])
        elif record["kind"] == "entry":
            assert head is not None
            content = json.loads(record["entry"])
            event = content["event"]
            yield _csv_row(
                [
                    record["sequence"],
                    content["recorded_at"],
                    event["type"],
                    event["subject"],
                    event["actor"],
                    record["hash"],
                    record["prev_hash"],
                    record["leaf_index"],
                    record["leaf_hash"],
                    " ".join(record["audit_path"]),
                    head.size,
                    head.root,
                    format_recorded_at(head.timestamp),
                    head.signature,
                    head.key_id,
                    record["entry"],
                ]
            )


def _csv_row(values: Iterable[object]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode("utf-8")
