"""Every setting is in the README's configuration reference."""

from __future__ import annotations

import pytest

from shared.settings import Settings
from tests.support.infra import REPO

README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_the_setting_is_documented(name: str) -> None:
    assert f"`CHANGEWARD_{name.upper()}`" in README
