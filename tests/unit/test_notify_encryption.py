"""Subscription secrets at rest: encrypted with the configured key, or one kept under the data
folder; unreadable under another key; a malformed key stops the process from starting."""

from __future__ import annotations

import base64
import secrets
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.notify.encryption import (
    KEY_FILE_NAME,
    InvalidKey,
    SecretCipher,
    SecretUnreadable,
    generate_key_text,
    load_cipher,
    parse_key,
)
from services.notify.signing import new_secret
from shared.settings import Settings


def test_a_sealed_secret_is_not_the_secret_and_unseals_to_it() -> None:
    cipher = SecretCipher(parse_key(generate_key_text()))
    secret = new_secret()
    sealed = cipher.seal(secret)
    assert secret not in sealed
    assert secret.removeprefix("whsec_") not in sealed
    assert cipher.seal(secret) != sealed  # a fresh IV each time
    assert cipher.unseal(sealed) == secret


def test_another_key_cannot_read_it() -> None:
    sealed = SecretCipher(parse_key(generate_key_text())).seal(new_secret())
    with pytest.raises(SecretUnreadable, match="CHANGEWARD_NOTIFY_SECRET_KEY"):
        SecretCipher(parse_key(generate_key_text())).unseal(sealed)


def test_a_fernet_style_url_safe_key_reads_the_same_as_standard_base64() -> None:
    raw = secrets.token_bytes(32)
    standard = SecretCipher(parse_key(base64.b64encode(raw).decode()))
    url_safe = SecretCipher(parse_key(base64.urlsafe_b64encode(raw).decode()))
    assert url_safe.unseal(standard.seal("whsec_x")) == "whsec_x"


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode(), "A" * 64])
def test_a_malformed_key_is_refused(text: str) -> None:
    with pytest.raises(InvalidKey):
        parse_key(text)


@pytest.mark.parametrize(
    "text", ["not base64!", base64.b64encode(secrets.token_bytes(16)).decode()]
)
def test_a_malformed_configured_key_stops_the_settings_from_loading(text: str) -> None:
    with pytest.raises(ValidationError, match="32 random bytes"):
        Settings(notify_secret_key=text)


def test_an_empty_configured_key_means_none() -> None:
    assert Settings(notify_secret_key="").notify_secret_key is None


def test_without_a_configured_key_one_is_made_under_the_data_folder_and_kept(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    sealed = load_cipher(None, data_dir).seal("whsec_kept")
    key_file = data_dir / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert list(data_dir.iterdir()) == [key_file]  # no draft left behind
    load_cipher.cache_clear()  # as a restarted process would
    assert load_cipher(None, data_dir).unseal(sealed) == "whsec_kept"


def test_a_configured_key_wins_over_the_data_folder(tmp_path: Path) -> None:
    key = generate_key_text()
    sealed = load_cipher(key, tmp_path).seal("whsec_configured")
    assert not (tmp_path / KEY_FILE_NAME).exists()
    assert SecretCipher(parse_key(key)).unseal(sealed) == "whsec_configured"
