"""Signed tree heads: the Ed25519 key, the canonical message it signs, and checking it.

A tree head's signature is Ed25519 over the UTF-8 bytes of the canonical JSON (keys
sorted, no whitespace) of

    {"log": "changeward-audit/1", "root": "<hex>", "size": N, "timestamp": "<ISO 8601 UTC, Z>"}

`log` separates these signatures from anything else the key might ever sign. The
signature travels as standard base64, the public key as base64 of its 32 raw bytes
(and as PEM), and a key is named by `key_id`, the first 16 hex digits of SHA-256 of
the raw public key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.domain import canonical_json, format_recorded_at

log = structlog.get_logger(__name__)

LOG_NAME = "changeward-audit/1"
KEY_FILE_NAME = "audit-signing-key"


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes
    timestamp: datetime

    def message(self) -> bytes:
        """The bytes the signature covers, as this module's docstring defines them."""
        return canonical_json(
            {
                "log": LOG_NAME,
                "root": self.root.hex(),
                "size": self.size,
                "timestamp": format_recorded_at(self.timestamp),
            }
        ).encode("utf-8")


@dataclass(frozen=True)
class SignedTreeHead:
    head: TreeHead
    signature: bytes
    key_id: str


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


class TreeHeadSigner:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(self.public_key)

    def sign(self, head: TreeHead) -> SignedTreeHead:
        return SignedTreeHead(head, self._private_key.sign(head.message()), self.key_id)


def verifies(public_key: Ed25519PublicKey, head: TreeHead, signature: bytes) -> bool:
    try:
        public_key.verify(signature, head.message())
    except InvalidSignature:
        return False
    return True


class InvalidKey(ValueError):
    """A key that is neither PEM nor base64 of 32 raw bytes."""


def parse_private_key(text: str) -> Ed25519PrivateKey:
    """A private key from PEM (PKCS#8) or base64 of the 32-byte seed."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKey("the PEM key is not an Ed25519 private key")
        return key
    return Ed25519PrivateKey.from_private_bytes(_raw_32_bytes(text))


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo) or base64 of its 32 raw bytes."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise InvalidKey("the PEM key is not an Ed25519 public key")
        return key
    return Ed25519PublicKey.from_public_bytes(_raw_32_bytes(text))


def _raw_32_bytes(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as error:
        raise InvalidKey(f"not base64: {error}") from error
    if len(raw) != 32:
        raise InvalidKey(f"an Ed25519 key is 32 bytes, this one is {len(raw)}")
    return raw


def generate_private_key_text() -> str:
    seed = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(seed).decode("ascii")


@functools.lru_cache
def load_signer(configured_key: str | None, data_dir: Path) -> TreeHeadSigner:
    """The configured key, else one kept under `data_dir` (created on first use).

    Replicas of a distributed audit service must share one key: configure it
    (CHANGEWARD_AUDIT_SIGNING_KEY) rather than letting each generate its own.
    """
    if configured_key:
        return TreeHeadSigner(parse_private_key(configured_key))
    key_file = data_dir / KEY_FILE_NAME
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(generate_private_key_text())
        log.warning(
            "generated an audit signing key; set CHANGEWARD_AUDIT_SIGNING_KEY in production",
            path=str(key_file),
        )
    return TreeHeadSigner(parse_private_key(key_file.read_text()))
