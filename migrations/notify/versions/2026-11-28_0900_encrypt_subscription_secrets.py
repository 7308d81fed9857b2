"""encrypt subscription secrets

Revision ID: notify_0002
Revises: notify_0001
Create Date: 2026-11-28 09:00:00

Subscriptions' signing secrets were stored as given; they are now Fernet-encrypted in
`encrypted_secret`. Existing rows are encrypted here with the key notify reads at run time:
CHANGEWARD_NOTIFY_SECRET_KEY (environment or `.env`), else the key file under
CHANGEWARD_DATA_DIR, created if there is none yet. This file keeps its own copy of that
rule (migrations never import code that may change after them).
"""

import base64
import contextlib
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from cryptography.fernet import Fernet
from pydantic_settings import BaseSettings, SettingsConfigDict

revision: str = "notify_0002"
down_revision: str | None = "notify_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_FILE_NAME = "notify-secret-key"


class _KeySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHANGEWARD_", env_file=".env", extra="ignore")

    notify_secret_key: str | None = None
    data_dir: Path = Path(".changeward")


def _key_text() -> str:
    settings = _KeySettings()
    if settings.notify_secret_key:
        return settings.notify_secret_key
    key_file = settings.data_dir / KEY_FILE_NAME
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        draft = key_file.with_name(f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}")
        draft.touch(mode=0o600)
        try:
            draft.write_text(base64.b64encode(secrets.token_bytes(32)).decode("ascii"))
            with contextlib.suppress(FileExistsError):
                os.link(draft, key_file)
        finally:
            draft.unlink()
    return key_file.read_text()


def _fernet() -> Fernet:
    text = _key_text().strip().translate(str.maketrans("-_", "+/"))
    key = base64.b64decode(text, validate=True)
    if len(key) != 32:
        raise ValueError("CHANGEWARD_NOTIFY_SECRET_KEY must be base64 of 32 bytes")
    return Fernet(base64.urlsafe_b64encode(key))


def upgrade() -> None:
    op.add_column(
        "subscription", sa.Column("encrypted_secret", sa.Text(), nullable=True), schema="notify"
    )
    _copy_secrets("secret", "encrypted_secret", lambda fernet, secret: fernet.encrypt(secret))
    op.alter_column("subscription", "encrypted_secret", nullable=False, schema="notify")
    op.drop_column("subscription", "secret", schema="notify")


def downgrade() -> None:
    op.add_column("subscription", sa.Column("secret", sa.Text(), nullable=True), schema="notify")
    _copy_secrets("encrypted_secret", "secret", lambda fernet, sealed: fernet.decrypt(sealed))
    op.alter_column("subscription", "secret", nullable=False, schema="notify")
    op.drop_column("subscription", "encrypted_secret", schema="notify")


def _copy_secrets(source: str, target: str, convert: Callable[[Fernet, bytes], bytes]) -> None:
    """Every subscription's `source` column, converted, into its `target` column."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(f"SELECT id, {source} FROM notify.subscription")).all()
    if not rows:
        return
    fernet = _fernet()
    connection.execute(
        sa.text(f"UPDATE notify.subscription SET {target} = :value WHERE id = :id"),
        [{"id": id_, "value": convert(fernet, value.encode()).decode()} for id_, value in rows],
    )
