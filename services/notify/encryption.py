"""Subscription signing secrets at rest: Fernet (AES-128-CBC with HMAC-SHA256) under one key.

Every delivery is signed with its subscription's secret, so notify must be able to read it
back; what it stores is that secret encrypted, so a copy of the database (a backup, a read
replica, a stray dump) does not let anyone forge deliveries. The key is
CHANGEWARD_NOTIFY_SECRET_KEY, base64 of 32 random bytes. Unset, one is generated under the
data folder on first use: right for `changeward run`, and for replicas that share the
folder; replicas on separate machines must share a configured key, or each could read only
the secrets it wrote itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import os
import secrets
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken

from shared.settings import Settings

log = structlog.get_logger(__name__)

KEY_FILE_NAME = "notify-secret-key"
KEY_BYTES = 32
_URLSAFE = str.maketrans("-_", "+/")


class InvalidKey(ValueError):
    pass


class SecretUnreadable(Exception):
    """A stored value this key cannot decrypt: the key changed since it was written."""


class SecretCipher:
    """Encrypts and decrypts secrets (as text, for columns) and response bodies (as bytes)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidKey(f"the key is {KEY_BYTES} bytes, this one is {len(key)}")
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as error:
            raise SecretUnreadable(
                "cannot decrypt with CHANGEWARD_NOTIFY_SECRET_KEY: the key differs from the "
                "one it was encrypted with"
            ) from error

    def seal(self, secret: str) -> str:
        return self.encrypt(secret.encode()).decode("ascii")

    def unseal(self, sealed: str) -> str:
        return self.decrypt(sealed.encode("ascii")).decode()


def parse_key(text: str) -> bytes:
    """Base64 (standard or URL-safe, as Fernet writes keys) of 32 bytes."""
    try:
        key = base64.b64decode(text.strip().translate(_URLSAFE), validate=True)
    except binascii.Error as error:
        raise InvalidKey(f"not base64: {error}") from error
    if len(key) != KEY_BYTES:
        raise InvalidKey(f"the key is {KEY_BYTES} bytes, this one is {len(key)}")
    return key


def generate_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


@functools.lru_cache
def load_cipher(configured_key: str | None, data_dir: Path) -> SecretCipher:
    """The configured key, else the one kept under `data_dir` (created on first use)."""
    if configured_key:
        return SecretCipher(parse_key(configured_key))
    key_file = data_dir / KEY_FILE_NAME
    if not key_file.exists():
        _create_key_file(key_file)
    return SecretCipher(parse_key(key_file.read_text()))


def cipher_for(settings: Settings) -> SecretCipher:
    return load_cipher(settings.notify_secret_key, settings.data_dir)


def _create_key_file(key_file: Path) -> None:
    """Write a new key unless another process sharing the folder has just written one."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    draft = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
    draft.touch(mode=0o600)
    try:
        draft.write_text(generate_key_text())
        # A hard link is created whole or not at all, and never replaces an existing file.
        os.link(draft, key_file)
    except FileExistsError:
        return
    finally:
        with contextlib.suppress(FileNotFoundError):
            draft.unlink()
    log.warning(
        "generated a key for subscription secrets; set CHANGEWARD_NOTIFY_SECRET_KEY in "
        "production (replicas must share it)",
        path=str(key_file),
    )
