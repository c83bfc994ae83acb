"""Connection settings as one pydantic model (directory/settings/model.py): admin text
parsed to the stored value, refusals naming what is accepted, stored JSON read back."""

from __future__ import annotations

from typing import Any

import pytest

from roster.directory.settings import model
from roster.errors import InvalidValue


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("unique_identifier", " EMAIL ", "email"),
        ("location_sync", "Per_Location", "per_location"),
        ("strict_members", "on", True),
        ("link_by_email", "FALSE", False),
        ("group_role_prefix", "  Envi_ ", "Envi_"),
        ("rate_limit", "50/s", 50.0),
        ("rate_limit", "unlimited", 0.0),
        ("rate_limit", "Default", "default"),
        ("rate_burst", "20", 20),
    ],
)
def test_admin_text_becomes_the_stored_value(name: str, text: str, value: Any) -> None:
    assert model.parse(name, text) == value


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("unique_identifier", "nickname", "'nickname' is not one of: userName, email"),
        ("strict_members", "maybe", "'maybe' is not a boolean (true or false)"),
        ("group_role_prefix", "x" * 101, "group_role_prefix: at most 100 characters"),
        ("rate_limit", "0.0", "rate_limit: '0.0' is not a rate"),
        ("rate_limit", "nan", "rate_limit: 'nan' is not a rate"),
        ("rate_burst", "0", "rate_burst: '0' is not a burst"),
    ],
)
def test_a_bad_value_is_refused_naming_what_is_accepted(name: str, text: str, message: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        model.parse(name, text)
    assert caught.value.detail.startswith(message)


def test_a_stored_value_that_does_not_validate_is_its_default() -> None:
    read = model.stored(
        {"strict_members": "yes", "location_sync": "per_location", "rate_limit": 0.0, "x": 1}
    )
    assert read.strict_members is False  # hand-edited text, not a boolean
    assert read.location_sync == "per_location"
    assert read.rate_limit == 0.0  # off, as stored by `--set rate_limit=off`
    assert model.stored({}) == model.DEFAULTS
