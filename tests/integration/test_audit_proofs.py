"""Merkle proofs, signed tree heads and exports, checked by a verifier written here from RFC 9162.

Nothing in this file imports the audit service's own hashing or verification code.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from changeward.cli import app as cli
from tests.conftest import fresh_database
from tests.support.audit import AuditStack, audit_stack, change_event
from tests.support.clients import Tokens

SIZES = [1, 2, 3, 5, 7, 8, 13, 64, 100]

# --- RFC 9162, section 2.1, as written there ---


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of §2.1.1, over the leaf *inputs*."""
    n = len(leaves)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def inclusion_ok(index: int, size: int, leaf_hash: bytes, path: list[bytes], root: bytes) -> bool:
    """§2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = sha256(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = sha256(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def consistency_ok(first: int, second: int, h1: bytes, h2: bytes, path: list[bytes]) -> bool:
    """§2.1.4.2 (with the trivial cases the RFC leaves to the caller)."""
    if first == second:
        return path == [] and h1 == h2
    if first == 0:
        return path == []
    if not path and first & (first - 1) != 0:
        return False
    if first & (first - 1) == 0:
        path = [h1, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            sr = sha256(b"\x01" + sr + c)
        fn //= 2
        sn //= 2
    return fr == h1 and sr == h2 and sn == 0


def signed_message(head: dict[str, Any]) -> bytes:
    """The documented canonical message of a tree head."""
    moment = datetime.fromisoformat(head["timestamp"].replace("Z", "+00:00")).astimezone(UTC)
    return json.dumps(
        {
            "log": "changeward-audit/1",
            "root": head["root"],
            "size": head["size"],
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def signature_ok(public_key_b64: str, head: dict[str, Any]) -> bool:
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    try:
        key.verify(base64.b64decode(head["signature"]), signed_message(head))
    except InvalidSignature:
        return False
    return True


# --- the ledger under test ---


@pytest.fixture(scope="module")
async def ledger(
    pg_server: str, tokens: Tokens, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AuditStack]:
    url = await fresh_database(pg_server)
    async with audit_stack(url, tokens, tmp_path_factory.mktemp("audit")) as stack:
        yield stack


async def get(stack: AuditStack, path: str, **params: Any) -> Any:
    response = await stack.client.get(path, params=params, headers=stack.auditor)
    assert response.status_code == 200, response.text
    return response.json()


async def export(stack: AuditStack, **params: Any) -> list[dict[str, Any]]:
    response = await stack.client.get("/v1/audit/export", params=params, headers=stack.auditor)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


async def test_proofs_verify_at_every_size(ledger: AuditStack) -> None:
    public_key = (await get(ledger, "/v1/audit/public-key"))["public_key"]
    roots: dict[int, bytes] = {}
    entries: list[bytes] = []
    for size in SIZES:
        while len(entries) < size:
            await ledger.publish(change_event())
            entries.append(b"")
        records = await export(ledger)
        entries = [r["entry"].encode() for r in records if r["kind"] == "entry"]
        assert len(entries) == size
        head = await get(ledger, "/v1/audit/tree-head")
        assert head["size"] == size
        assert bytes.fromhex(head["root"]) == mth(entries)
        assert signature_ok(public_key, head)
        roots[size] = mth(entries)
        indexes = range(size) if size <= 13 else sorted({0, 1, size // 2, size - 2, size - 1})
        for index in indexes:
            proof = await get(ledger, "/v1/audit/proofs/inclusion", entry=index + 1, size=size)
            leaf = sha256(b"\x00" + entries[index])
            assert proof["leaf_hash"] == leaf.hex()
            path = [bytes.fromhex(h) for h in proof["audit_path"]]
            assert inclusion_ok(index, size, leaf, path, roots[size])
            assert not inclusion_ok(index, size, sha256(b"\x00forged"), path, roots[size])
        for old in [s for s in SIZES if s <= size] + [0]:
            body = await get(ledger, "/v1/audit/proofs/consistency", **{"from": old, "to": size})
            path = [bytes.fromhex(h) for h in body["proof"]]
            old_root = roots.get(old, sha256(b""))
            assert consistency_ok(old, size, old_root, roots[size], path), (old, size)
            if 0 < old < size:
                assert not consistency_ok(old, size, sha256(b"other"), roots[size], path)


async def test_proofs_against_an_older_size_still_verify(ledger: AuditStack) -> None:
    records = await export(ledger)
    entries = [r["entry"].encode() for r in records if r["kind"] == "entry"]
    assert len(entries) >= 13
    for size in (5, 13):
        for index in (0, size - 1):
            proof = await get(ledger, "/v1/audit/proofs/inclusion", entry=index + 1, size=size)
            path = [bytes.fromhex(h) for h in proof["audit_path"]]
            leaf = sha256(b"\x00" + entries[index])
            assert inclusion_ok(index, size, leaf, path, mth(entries[:size]))


async def test_bad_proof_requests_are_422_naming_the_parameter(ledger: AuditStack) -> None:
    size = (await get(ledger, "/v1/audit/tree-head"))["size"]
    cases = [
        ("/v1/audit/proofs/inclusion", {"entry": size + 1}, "entry"),
        ("/v1/audit/proofs/inclusion", {"entry": 1, "size": size + 5}, "size"),
        ("/v1/audit/proofs/inclusion", {"entry": 0}, "entry"),
        ("/v1/audit/proofs/consistency", {"from": 3, "to": 2}, "from"),
        ("/v1/audit/proofs/consistency", {"from": 1, "to": size + 1}, "to"),
    ]
    for path, params, field in cases:
        response = await ledger.client.get(path, params=params, headers=ledger.auditor)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "validation-error"
        assert ["query", field] in [error["loc"] for error in problem["errors"]]


async def test_tree_heads_are_signed_in_the_background_and_published(ledger: AuditStack) -> None:
    before = await get(ledger, "/v1/audit/tree-head")
    await ledger.publish(change_event())
    rows = await _wait_for_signed_size(ledger, before["size"] + 1)
    public_key = (await get(ledger, "/v1/audit/public-key"))["public_key"]
    assert rows, "the background signer signed no head for the new entry"
    outbox = await _outbox_tree_heads(ledger)
    published = [json.loads(p) for p in outbox]
    assert any(event["data"]["size"] == before["size"] + 1 for event in published)
    for event in published:
        assert event["type"] == "io.changeward.audit.tree_head_published"
        assert signature_ok(public_key, event["data"])


async def test_public_key_pem_is_the_same_key(ledger: AuditStack) -> None:
    from cryptography.hazmat.primitives import serialization

    body = await get(ledger, "/v1/audit/public-key")
    key = serialization.load_pem_public_key(body["pem"].encode())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.b64encode(raw).decode() == body["public_key"]
    assert body["key_id"] == hashlib.sha256(raw).hexdigest()[:16]


async def test_export_verifies_offline(ledger: AuditStack, tmp_path: Path) -> None:
    public_key = (await get(ledger, "/v1/audit/public-key"))["public_key"]
    records = await export(ledger)
    head, *lines, end = records
    assert head["kind"] == "tree_head"
    assert end == {"kind": "end", "entries": len(lines)}
    assert signature_ok(public_key, head)
    previous: dict[str, Any] | None = None
    for line in lines:
        entry = line["entry"].encode()
        assert hashlib.sha256(line["prev_hash"].encode() + entry).hexdigest() == line["hash"]
        if previous is not None:
            assert line["sequence"] == previous["sequence"] + 1
            assert line["prev_hash"] == previous["hash"]
        leaf = sha256(b"\x00" + entry)
        path = [bytes.fromhex(h) for h in line["audit_path"]]
        assert inclusion_ok(
            line["leaf_index"], head["size"], leaf, path, bytes.fromhex(head["root"])
        )
        previous = line

    export_file = tmp_path / "export.ndjson"
    export_file.write_text("".join(json.dumps(r) + "\n" for r in records))
    runner = CliRunner()
    ok = runner.invoke(
        cli, ["audit", "verify", "--file", str(export_file), "--public-key", public_key]
    )
    assert ok.exit_code == 0, ok.output
    tampered = export_file.read_text().replace('"actor\\":\\"rita', '"actor\\":\\"mallory', 1)
    assert tampered != export_file.read_text()
    export_file.write_text(tampered)
    bad = runner.invoke(
        cli, ["audit", "verify", "--file", str(export_file), "--public-key", public_key]
    )
    assert bad.exit_code == 1
    assert "FAILED" in bad.output


async def test_export_of_a_time_range_and_as_csv(ledger: AuditStack) -> None:
    start = datetime.now(UTC)
    marker = change_event(actor="carol")
    await ledger.publish(marker)
    records = await export(ledger, **{"from": start.isoformat()})
    lines = [r for r in records if r["kind"] == "entry"]
    assert [json.loads(r["entry"])["event"]["id"] for r in lines] == [str(marker.id)]
    response = await ledger.client.get(
        "/v1/audit/export",
        params={"from": start.isoformat(), "format": "csv"},
        headers=ledger.auditor,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    header, row, *rest = response.text.splitlines()
    assert rest == []
    assert header.startswith("sequence,recorded_at,event_type,subject,actor,hash")
    assert "carol" in row


async def _wait_for_signed_size(ledger: AuditStack, size: int) -> list[Any]:
    from tests.support.clients import eventually, fetch

    return await eventually(
        lambda: fetch(
            ledger.database_url, "SELECT size FROM audit.tree_head WHERE size = $1", size
        ),
        bool,
        timeout=10,
    )


async def _outbox_tree_heads(ledger: AuditStack) -> list[str]:
    from tests.support.clients import fetch

    rows = await fetch(
        ledger.database_url,
        "SELECT payload FROM audit.outbox WHERE event_type = 'audit.tree_head_published'",
    )
    return [row["payload"] for row in rows]
