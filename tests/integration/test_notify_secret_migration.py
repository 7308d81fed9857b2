"""Subscriptions made before secrets were encrypted: the migration encrypts them with the key
notify runs with, so their deliveries keep their signatures; a downgrade decrypts them."""

from __future__ import annotations

import asyncio
import base64
import secrets
import uuid
from pathlib import Path

import pytest
from alembic import command

from services.notify.encryption import KEY_FILE_NAME, cipher_for
from shared.migrate import alembic_config
from shared.settings import Settings
from tests.conftest import fresh_database
from tests.support.clients import fetch

BEFORE_ENCRYPTION = "notify_0001"


async def _migrate(database_url: str, revision: str, *, down: bool = False) -> None:
    config = alembic_config("notify", database_url)
    step = command.downgrade if down else command.upgrade
    await asyncio.to_thread(step, config, revision)


async def _old_subscription(database_url: str, secret: str) -> uuid.UUID:
    subscription_id = uuid.uuid4()
    await fetch(
        database_url,
        "INSERT INTO notify.subscription (id, name, url, format, event_types,"
        " reminder_lead_seconds, secret, created_by)"
        " VALUES ($1, 'old', 'https://93.184.215.14/hook', 'json', '{change.approved}',"
        " 3600, $2, 'mona')",
        subscription_id,
        secret,
    )
    return subscription_id


async def test_existing_secrets_are_encrypted_with_the_configured_key_and_back_on_downgrade(
    pg_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    monkeypatch.setenv("CHANGEWARD_NOTIFY_SECRET_KEY", key)
    database_url = await fresh_database(pg_server, migrated=False)
    await _migrate(database_url, BEFORE_ENCRYPTION)
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription_id = await _old_subscription(database_url, secret)

    await _migrate(database_url, "head")

    [row] = await fetch(
        database_url, "SELECT * FROM notify.subscription WHERE id = $1", subscription_id
    )
    assert "secret" not in dict(row)
    assert secret not in row["encrypted_secret"]
    assert cipher_for(Settings(notify_secret_key=key)).unseal(row["encrypted_secret"]) == secret

    await _migrate(database_url, BEFORE_ENCRYPTION, down=True)
    [row] = await fetch(
        database_url, "SELECT * FROM notify.subscription WHERE id = $1", subscription_id
    )
    assert row["secret"] == secret
    assert "encrypted_secret" not in dict(row)


async def test_without_a_configured_key_they_are_encrypted_with_the_data_folder_key(
    pg_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`changeward run` with an existing database: the migration makes the key the service
    then finds under the data folder."""
    monkeypatch.delenv("CHANGEWARD_NOTIFY_SECRET_KEY", raising=False)
    monkeypatch.setenv("CHANGEWARD_DATA_DIR", str(tmp_path))
    database_url = await fresh_database(pg_server, migrated=False)
    await _migrate(database_url, BEFORE_ENCRYPTION)
    secret = "whsec_" + secrets.token_urlsafe(32)
    subscription_id = await _old_subscription(database_url, secret)

    await _migrate(database_url, "head")

    assert (tmp_path / KEY_FILE_NAME).exists()
    [row] = await fetch(
        database_url,
        "SELECT encrypted_secret FROM notify.subscription WHERE id = $1",
        subscription_id,
    )
    service_settings = Settings(data_dir=tmp_path)
    assert cipher_for(service_settings).unseal(row["encrypted_secret"]) == secret
