"""The onboarding email: queued when a rule grants a mobile key to an employee who had none.

The rules engine calls :func:`queue` inside the transaction that records the grant, so the
email is in the outbox exactly when the grant is committed (and gone with it on a
rollback); :mod:`roster.directory.messaging.mail` delivers it later. One email per grant: the outbox
key is the employee and the activation number of their key, so re-running the rules
never queues it twice.

Templates are written by tenant admins, so they render in Jinja2's sandbox (no attribute
access to Python internals, bounded ``range``) with ``StrictUndefined`` (a misspelt
variable is an error when the template is saved, not a blank in someone's inbox).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection

from roster.directory.journal.system_log import note, now
from roster.errors import InvalidValue
from roster.storage import outbox as store
from roster.storage import tenancy as tenancy_store
from roster.storage.employees import EmployeeRow

KIND = "onboarding"

# What a template can use; README "Onboarding email" lists the same.
VARIABLES = (
    "employee.given_name",
    "employee.family_name",
    "employee.display_name",
    "employee.email",
    "employee.id",
    "tenant",
    "rule",
)

DEFAULT_SUBJECT = "Your mobile key for {{ tenant }}"
DEFAULT_BODY = """\
Hello {{ employee.given_name or employee.display_name }},

You now have a mobile key for {{ tenant }}. Install the mobile app and sign in with
{{ employee.email }} to start using it.

This message was sent automatically; replies are not read.
"""

MAX_SUBJECT_CHARS = 500
MAX_BODY_CHARS = 20_000
# A sandboxed template still loops (up to 100 000 steps per range): bound what it makes.
MAX_RENDERED_BODY_CHARS = 100_000

# An id-right that is a domain nobody owns (RFC 2606 .invalid): the Message-ID must be
# stable across restarts and workers, so it cannot come from the sending host's name.
MESSAGE_ID_DOMAIN = "roster.invalid"

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

_SAMPLES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "",
        {
            "employee": {
                "given_name": "Ada",
                "family_name": "Lovelace",
                "display_name": "Ada Lovelace",
                "email": "ada@example.com",
                "id": "2819c223-7f76-453a-919d-413861904646",
            },
            "tenant": "Example Corp",
            "rule": "Engineering gets a mobile key",
        },
    ),
    (
        " for an employee with no name (only an email)",
        {
            "employee": {
                "given_name": "",
                "family_name": "",
                "display_name": "bob@example.com",
                "email": "bob@example.com",
                "id": "9d3a4f6e-8d38-4b40-8f3e-1f0f0c6e1c11",
            },
            "tenant": "Example Corp",
            "rule": "Everyone gets a mobile key",
        },
    ),
)


@dataclass(frozen=True)
class Template:
    subject: str
    body: str
    custom: bool  # False: the built-in default
    updated_at: datetime | None


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def message_id(tenant_id: int, dedupe_key: str) -> str:
    """The same for every send of one outbox row, so a resend (a worker died between the
    server's acceptance and the commit) can be recognised by receivers (RFC 5322 §3.6.4)."""
    digest = hashlib.sha256(f"{tenant_id}:{dedupe_key}".encode()).hexdigest()[
        :32
    ]  # 128 bits; the header stays on one line
    return f"<onboarding.{digest}@{MESSAGE_ID_DOMAIN}>"


def _render_text(text: str, values: dict[str, Any]) -> str:
    return _ENV.from_string(text).render(values)


def _render(subject: str, body: str, values: dict[str, Any]) -> Rendered:
    # One line, whatever the names hold: a header must not carry a line break.
    rendered_subject = " ".join(_render_text(subject, values).split())
    rendered_body = _render_text(body, values)
    if len(rendered_body) > MAX_RENDERED_BODY_CHARS:
        raise InvalidValue(
            f"the body template renders {len(rendered_body)} characters; "
            f"the limit is {MAX_RENDERED_BODY_CHARS}"
        )
    return Rendered(rendered_subject, rendered_body)


def _problem(part: str, err: Exception, sample: str) -> InvalidValue:
    if isinstance(err, TemplateSyntaxError):
        return InvalidValue(
            f"the {part} template has a syntax error on line {err.lineno}: {err.message}"
        )
    if isinstance(err, TemplateError):
        return InvalidValue(
            f"the {part} template fails{sample}: {err.message}; "
            f"the variables are {', '.join(VARIABLES)}"
        )
    return InvalidValue(f"the {part} template fails{sample}: {type(err).__name__}: {err}")


def validate(subject: str, body: str) -> None:
    """Refuse a template that cannot render, with the line or variable to fix."""
    if not subject.strip():
        raise InvalidValue("the subject template is empty")
    if "\n" in subject or "\r" in subject:
        raise InvalidValue("the subject template must be one line")
    if len(subject) > MAX_SUBJECT_CHARS:
        raise InvalidValue(f"the subject template is longer than {MAX_SUBJECT_CHARS} characters")
    if not body.strip():
        raise InvalidValue("the body template is empty")
    if len(body) > MAX_BODY_CHARS:
        raise InvalidValue(f"the body template is longer than {MAX_BODY_CHARS} characters")
    for part, text in (("subject", subject), ("body", body)):
        for sample, values in _SAMPLES:
            try:
                out = _render_text(text, values)
            except Exception as err:  # tenant-authored: any failure Python has is a refusal
                raise _problem(part, err, sample) from err
            if part == "body" and len(out) > MAX_RENDERED_BODY_CHARS:
                raise InvalidValue(
                    f"the body template renders {len(out)} characters{sample}; "
                    f"the limit is {MAX_RENDERED_BODY_CHARS}"
                )


def current_template(conn: Connection, tenant_id: int) -> Template:
    row = store.get_template(conn, tenant_id, KIND)
    if row is None:
        return Template(DEFAULT_SUBJECT, DEFAULT_BODY, False, None)
    return Template(row.subject, row.body, True, row.updated_at)


def set_template(conn: Connection, tenant_id: int, subject: str, body: str) -> Template:
    """Replace the tenant's onboarding template (validated first); logged. Mail already
    queued keeps the text it was queued with."""
    validate(subject, body)
    at = now()
    store.set_template(conn, tenant_id, KIND, subject, body, at)
    note(
        conn,
        tenant_id,
        None,
        "mail.template",
        f"onboarding email template changed (subject {subject!r}, body {len(body)} characters)",
        actor="admin",
    )
    return Template(subject, body, True, at)


def _values(employee: EmployeeRow, tenant: str, rule_name: str) -> dict[str, Any]:
    def text(name: str) -> str:
        value = employee.fields.get(name)
        return value.strip() if isinstance(value, str) else ""

    given, family = text("givenName"), text("familyName")
    display = text("displayName") or " ".join(x for x in (given, family) if x) or employee.email
    return {
        "employee": {
            "given_name": given,
            "family_name": family,
            "display_name": display,
            "email": employee.email,
            "id": employee.id,
        },
        "tenant": tenant,
        "rule": rule_name,
    }


def queue(
    conn: Connection,
    tenant_id: int,
    employee: EmployeeRow,
    activation: int,
    *,
    rule_name: str,
    at: datetime,
) -> bool:
    """Queue the onboarding email for ``employee``'s mobile key activation number
    ``activation``, in the caller's transaction; False when it is already queued (or sent).

    A tenant template that fails for this employee must not stop the grant: the built-in
    one is used and the system log says why.
    """
    dedupe_key = f"mobile-key:{employee.id}:{activation}"
    tenant = tenancy_store.tenant_by_id(conn, tenant_id)
    values = _values(employee, tenant.name if tenant else "", rule_name)
    template = current_template(conn, tenant_id)
    fallback = ""
    try:
        rendered = _render(template.subject, template.body, values)
    except Exception as err:  # tenant-authored: any failure, see validate()
        rendered = _render(DEFAULT_SUBJECT, DEFAULT_BODY, values)
        fallback = f"; the tenant's template failed ({type(err).__name__}: {err}), so the "
        fallback += "built-in one was used"
    queued = store.insert_if_absent(
        conn,
        store.NewEmail(
            tenant_id=tenant_id,
            dedupe_key=dedupe_key,
            employee_id=employee.id,
            to_addr=employee.email,
            subject=rendered.subject,
            body=rendered.body,
            message_id=message_id(tenant_id, dedupe_key),
            at=at,
        ),
    )
    if queued:
        note(
            conn,
            tenant_id,
            None,
            "mail.queued",
            f"onboarding email to {employee.email} queued (mobile key activation "
            f"{activation}, rule {rule_name!r}){fallback}",
            employee.id,
        )
    return queued


def withdraw(conn: Connection, tenant_id: int, employee: EmployeeRow, at: datetime) -> int:
    """The mobile key was revoked before its onboarding email went out: do not tell the
    person they have a key they no longer hold. Returns how many emails were withdrawn."""
    count = store.withdraw_pending(conn, tenant_id, f"mobile-key:{employee.id}:", at)
    if count:
        note(
            conn,
            tenant_id,
            None,
            "mail.withdrawn",
            f"onboarding email to {employee.email} withdrawn: the mobile key was revoked "
            "before it was sent",
            employee.id,
        )
    return count
