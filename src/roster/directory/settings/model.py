"""A connection's settings as one pure pydantic model: each field's type is its
validation, its description is what `roster connection show` and the console's settings
page say of it, and its default is the directory's.

Stored under plain keys of ``connections.options`` (the IdP quirk overrides sit under
``options["dialect"]``; scim/dialects/ owns their meaning). An admin types a value as
text (`roster connection configure ID --set name=value`, the console's form):
``parse`` validates it with pydantic's lax mode (``true``/``on``/``yes``/``1`` for a
boolean, numbers as text) and returns the value as stored JSON. ``stored`` reads the
stored object back in strict mode: a hand-edited value that does not validate falls back
to its default instead of breaking every sync. What a change means for people already
there is the configure action's (``directory/admin/connection_settings.py``).

- ``unique_identifier``: ``userName`` (default; EnvKey) or ``email`` (Engagedly).
- ``link_by_email``: a create whose primary email belongs to a manual employee (or to
  one of an inactive connection) links to it; off: 409 instead.
- ``location_sync``: ``all`` (every user in every location) or ``per_location`` (each
  location receives the users of its cities and locales).
- ``group_role_prefix``: only groups whose name starts with it take part in role mapping
  (Envi: ``Envi_``); the others are stored and ignored for roles.
- ``group_provisioning``: off, group requests are acknowledged and change nothing.
- ``strict_members``: on, a group write naming a member that is no user or group of the
  connection is refused (400); off, that member is skipped and the log names it.
- ``require_primary_email``: on, a user without a usable primary email is refused (400,
  or 409 for an email another user holds); off, stored and kept out of the directory.
- ``rate_limit``, ``rate_burst``: the connection's own token bucket, or ``default`` (the
  server's ROSTER_RATE_LIMIT, ROSTER_RATE_BURST); the limiter is directory/admission/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, cast, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from roster.errors import InvalidValue

SERVER_DEFAULT: Final = "default"  # rate_limit, rate_burst: use the server's setting
_OFF_WORDS = ("off", "0", "none", "unlimited")


def _rate_text(value: Any) -> Any:
    """``50/s`` is 50; the words for no limit, and a stored 0, are ``off``."""
    if isinstance(value, str):
        value = value.strip().lower().removesuffix("/s")
        return "off" if value in _OFF_WORDS else value
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return "off"
    return value


def _lowered(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


# Requests per second: ``default``, ``off`` (stored as 0.0) or a positive finite number.
Rate = Annotated[
    Literal["default", "off"] | Annotated[float, Field(gt=0, le=1_000_000, allow_inf_nan=False)],
    BeforeValidator(_rate_text),
    AfterValidator(lambda v: 0.0 if v == "off" else v),
]
# The bucket's size: ``default`` or a whole number of requests.
Burst = Annotated[
    Literal["default"] | Annotated[int, Field(ge=1, le=1_000_000)], BeforeValidator(_lowered)
]


class ConnectionSettings(BaseModel):
    """Every setting of a connection but the IdP quirks, with the directory's defaults."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    unique_identifier: Literal["userName", "email"] = Field(
        default="userName",
        description="the attribute identifying a user within the connection (userName: "
        "EnvKey; email: Engagedly)",
    )
    link_by_email: bool = Field(
        default=True,
        description="a new user whose primary email belongs to a manual employee links to "
        "it (off: 409)",
    )
    location_sync: Literal["all", "per_location"] = Field(
        default="all",
        description="all users to all locations, or per location by city (locality) or locale",
    )
    group_role_prefix: str = Field(
        default="",
        max_length=100,
        description="only groups whose name starts with this prefix map to roles (Envi: "
        "Envi_); empty: every group",
        json_schema_extra={"examples": ["", "Envi_"]},
    )
    group_provisioning: bool = Field(
        default=True,
        description="group requests change groups (off: acknowledged, nothing changes, logged)",
    )
    strict_members: bool = Field(
        default=False,
        description="a group write naming a member that is no user or group of this "
        "connection is refused (off: that member is skipped, the rest apply, the log names it)",
        json_schema_extra={"examples": [False, True]},
    )
    require_primary_email: bool = Field(
        default=False,
        description="a user without a usable primary email (none, not an address, or "
        "another user's of this connection) is refused (off: stored, kept out of the "
        "directory, logged)",
        json_schema_extra={"examples": [False, True]},
    )
    rate_limit: Rate = Field(
        default=SERVER_DEFAULT,
        description="requests per second this connection may send, sustained (429 with "
        "Retry-After above it); default: ROSTER_RATE_LIMIT; off: no limit",
        json_schema_extra={"examples": [SERVER_DEFAULT, 50.0, "off"]},
    )
    rate_burst: Burst = Field(
        default=SERVER_DEFAULT,
        description="requests this connection may send at once above its rate; default: "
        "ROSTER_RATE_BURST",
        json_schema_extra={"examples": [SERVER_DEFAULT, 100]},
    )

    @field_validator("unique_identifier", "location_sync", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: Any) -> Any:
        """An admin may type ``EMAIL``: the choice is the one spelled canonically."""
        if isinstance(value, str):
            choices = get_args(cls.model_fields[info.field_name].annotation)
            for choice in choices:
                if value.strip().lower() == choice.lower():
                    return choice
        return value


DEFAULTS = ConnectionSettings()
NAMES = tuple(ConnectionSettings.model_fields)


def choices(name: str) -> tuple[Any, ...]:
    """The values shown to admins beside a setting (the type is the real check)."""
    info = ConnectionSettings.model_fields[name]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("examples"), list):
        return tuple(cast(list[Any], extra["examples"]))
    if info.annotation is bool:
        return (True, False)
    return get_args(info.annotation)


def summary(name: str) -> str:
    return ConnectionSettings.model_fields[name].description or ""


def parse(name: str, text: str) -> Any:
    """Admin text -> the value stored for setting ``name``; InvalidValue naming the
    setting's accepted values otherwise."""
    try:
        parsed = ConnectionSettings.model_validate({name: text.strip()})
    except ValidationError as exc:
        raise InvalidValue(_refusal(name, text, exc.errors()[0])) from None
    return parsed.model_dump(mode="json")[name]


def _refusal(name: str, text: str, error: ErrorDetails) -> str:
    if name == "rate_limit":
        return (
            f"rate_limit: {text!r} is not a rate: give requests per second (e.g. 50 or 50/s), "
            "off, or default"
        )
    if name == "rate_burst":
        return (
            f"rate_burst: {text!r} is not a burst: give a whole number of requests "
            "(1 to 1000000), or default"
        )
    if error["type"] == "string_too_long":
        return f"{name}: at most {error.get('ctx', {}).get('max_length')} characters"
    if error["type"] == "literal_error":
        return f"{text!r} is not one of: {', '.join(choices(name))}"
    if error["type"] == "bool_parsing":
        return f"{text!r} is not a boolean (true or false)"
    return f"{name}: {error['msg']}"


def stored(options: Mapping[str, Any]) -> ConnectionSettings:
    """The settings a connection's stored options give; a value that does not validate
    (hand-edited JSON) is its default, so one bad key never breaks every sync."""
    values = {k: v for k, v in options.items() if k in ConnectionSettings.model_fields}
    while True:
        try:
            return ConnectionSettings.model_validate(values, strict=True)
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if not bad & values.keys():
                return DEFAULTS
            values = {k: v for k, v in values.items() if k not in bad}
