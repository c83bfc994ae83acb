"""SQLAlchemy 2 tables. Every tenant-owned table carries ``tenant_id``, and it leads every
unique index, so no query can reach another tenant's rows by forgetting a scope."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigPK = BigInteger().with_variant(Integer(), "sqlite")

# userName, group displayName and externalId longer than this are refused (400).
KEY_CHARS = 512


def _binary(length: int) -> String:
    """Text compared byte-wise on both databases: PostgreSQL gets the "C" collation, so
    sorting and LIKE-prefix index use match SQLite's BINARY, whatever the server locale."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(), nullable=False),
    # Bumped by every configuration change; validates each process's cache of it.
    Column("config_version", Integer(), nullable=False, server_default="0"),
)

connections = Table(
    "connections",
    metadata,
    # Internal integer keys keep every scoped index small; ``uid`` is the public id
    # (base URLs, CLI) and never changes.
    Column("id", Integer(), primary_key=True, autoincrement=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("idp", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    # SHA-256 hex of the bearer token; the token itself is never stored.
    Column("token_hash", String(64), nullable=False),
    Column("token_created_at", DateTime(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    # Per-connection settings, each validated by the code that owns it: "dialect" holds
    # overrides of the IdP compatibility profile (scim/dialects/); the directory keeps
    # its own keys here. A JSON object so a new setting needs no migration.
    Column("options", JSON(), nullable=False, server_default="{}"),
    UniqueConstraint("tenant_id", "name", name="uq_connections_tenant_name"),
)

resources = Table(
    "resources",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "connection_id",
        Integer(),
        ForeignKey("connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("resource_type", String(16), nullable=False),
    # Lower-cased userName (User) or displayName (Group): unique per connection.
    Column("unique_key", _binary(KEY_CHARS), nullable=False),
    Column("external_id", _binary(KEY_CHARS)),
    Column("display", _binary(KEY_CHARS)),
    Column("doc", JSON(), nullable=False),
    Column("version", Integer(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    UniqueConstraint(
        "tenant_id", "connection_id", "resource_type", "unique_key", name="uq_resources_unique_key"
    ),
    # Scoped lookups by id (one or many) use all four columns; a lone unique index on id
    # lost to the scope indexes in SQLite's planner and scanned the whole connection.
    UniqueConstraint("tenant_id", "connection_id", "resource_type", "id", name="uq_resources_id"),
    Index("ix_resources_external_id", "tenant_id", "connection_id", "resource_type", "external_id"),
    Index("ix_resources_order", "tenant_id", "connection_id", "resource_type", "pk"),
    Index("ix_resources_created", "tenant_id", "connection_id", "resource_type", "created_at"),
    Index("ix_resources_updated", "tenant_id", "connection_id", "resource_type", "updated_at"),
    # The read API's tenant-wide group list, in (created_at, id) order like employees.
    Index("ix_resources_listing", "tenant_id", "resource_type", "created_at", "id"),
)

# One row per scalar in a resource document: path "emails.value", element index, value.
# Filters on any attribute compile to EXISTS over this table, answered by its index.
resource_values = Table(
    "resource_values",
    metadata,
    Column("resource_pk", BigPK, ForeignKey("resources.pk", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", Integer(), nullable=False),
    Column("connection_id", Integer(), nullable=False),
    Column("path", _binary(300), nullable=False),
    Column("idx", Integer(), nullable=False),
    Column("v", _binary(512)),
    Column("vl", _binary(512)),
    Column("vn", Float()),
    Index("ix_resource_values_lookup", "tenant_id", "connection_id", "path", "vl"),
    Index("ix_resource_values_resource", "resource_pk", "path"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("group_pk", BigPK, ForeignKey("resources.pk", ondelete="CASCADE"), primary_key=True),
    Column("member_pk", BigPK, ForeignKey("resources.pk", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", Integer(), nullable=False),
    # The member's display as the client sent it (RFC 7643 §2.4, immutable); may be NULL.
    Column("display", String(256)),
    Index("ix_memberships_member", "member_pk", "group_pk"),
)

log_entries = Table(
    "log_entries",
    metadata,
    Column("id", BigPK, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer(), nullable=False),
    # The connection's public uid, no foreign key: its history outlives the connection.
    Column("connection_uid", String(36)),
    Column("at", DateTime(), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", Text(), nullable=False),
    Column("resource_type", String(16)),
    Column("resource_id", Text()),  # as the client sent it, whatever its length
    Column("status", Integer(), nullable=False),
    Column("scim_type", String(32)),
    Column("detail", Text()),
    Column("request_id", String(36), nullable=False),
    Column("duration_ms", Float(), nullable=False),
    Index("ix_log_entries_tenant", "tenant_id", "id"),
    Index("ix_log_entries_request", "request_id"),  # roster log --request
    Index("ix_log_entries_at", "at"),  # roster log prune: the retention cut-off
)

# ---- the employee directory (issue 4) -------------------------------------------------
# SCIM resources belong to their connection; employees belong to the tenant, joined by
# primary email (lower-cased in ``email_key``). A synced employee points at the connection
# and the SCIM user it comes from; a manual one has neither.

locations = Table(
    "locations",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("name_key", _binary(200), nullable=False),
    # Per-location sync: the cities (addresses.locality, lower-cased) and the normalised
    # locales (en_US) whose users this location receives.
    Column("cities", JSON(), nullable=False),
    Column("locales", JSON(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    UniqueConstraint("tenant_id", "name_key", name="uq_locations_name"),
    UniqueConstraint("tenant_id", "id", name="uq_locations_id"),
)

# Admin-defined primary-location mapping: a defaultLocationName value -> a location.
location_aliases = Table(
    "location_aliases",
    metadata,
    Column(
        "tenant_id",
        Integer(),
        ForeignKey("tenants.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("value_key", _binary(200), primary_key=True),
    Column("value", String(200), nullable=False),
    Column(
        "location_pk", Integer(), ForeignKey("locations.pk", ondelete="CASCADE"), nullable=False
    ),
)

employees = Table(
    "employees",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    # NULL: a manual employee. Deleting a connection keeps its employees as manual ones.
    Column("connection_id", Integer(), ForeignKey("connections.id", ondelete="SET NULL")),
    Column("resource_pk", BigPK, ForeignKey("resources.pk", ondelete="SET NULL")),
    Column("email", String(320), nullable=False),
    Column("email_key", _binary(320), nullable=False),
    Column("status", String(10), nullable=False),
    # The mapped attributes (camelCase names, custom fields under "custom").
    Column("fields", JSON(), nullable=False),
    # Derived columns the location rules and the primary-location mapping select on.
    Column("city_key", _binary(200)),
    Column("locale_key", String(16)),  # only a valid, normalised locale (en_US)
    Column("primary_location_key", _binary(200)),
    Column("primary_location_pk", Integer(), ForeignKey("locations.pk", ondelete="SET NULL")),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    UniqueConstraint("tenant_id", "id", name="uq_employees_id"),
    UniqueConstraint("tenant_id", "email_key", name="uq_employees_email"),
    UniqueConstraint("tenant_id", "resource_pk", name="uq_employees_resource"),
    Index("ix_employees_connection", "tenant_id", "connection_id", "pk"),
    Index("ix_employees_updated", "tenant_id", "updated_at", "pk"),
    Index("ix_employees_primary_location", "tenant_id", "primary_location_key"),
    # The read API pages in (created_at, id) order: its cursor carries only what the page
    # already shows, never an internal key (a global pk would tell how many rows other
    # tenants added in between).
    Index("ix_employees_listing", "tenant_id", "created_at", "id"),
    Index("ix_employees_status", "tenant_id", "status", "created_at", "id"),
    # Removing a location: its primary-location holders (touched, then SET NULL).
    Index("ix_employees_primary_location_pk", "primary_location_pk"),
)

employee_locations = Table(
    "employee_locations",
    metadata,
    Column("employee_pk", BigPK, ForeignKey("employees.pk", ondelete="CASCADE"), primary_key=True),
    Column(
        "location_pk", Integer(), ForeignKey("locations.pk", ondelete="CASCADE"), primary_key=True
    ),
    Column("tenant_id", Integer(), nullable=False),
    # Location-led: the read API's location filter, head counts, and the ON DELETE CASCADE
    # of a removed location (which filters on location_pk alone).
    Index("ix_employee_locations_location", "location_pk", "tenant_id", "employee_pk"),
)

# Manager and assistants: one row per reference as the IdP sent it. ``target_pk`` is NULL
# while the person referred to is not (yet) a synced employee; the sync of that person
# completes it (looked up by ``key``: a lower-cased email, or a SCIM id of ``connection_id``).
employee_refs = Table(
    "employee_refs",
    metadata,
    Column("employee_pk", BigPK, ForeignKey("employees.pk", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(10), primary_key=True),  # manager | assistant
    Column("position", Integer(), primary_key=True),
    Column("tenant_id", Integer(), nullable=False),
    Column("connection_id", Integer()),
    Column("by", String(5), nullable=False),  # email | id
    Column("raw", String(512), nullable=False),
    Column("key", _binary(512), nullable=False),
    Column("target_pk", BigPK, ForeignKey("employees.pk", ondelete="SET NULL")),
    Index("ix_employee_refs_key", "tenant_id", "key"),
    Index("ix_employee_refs_target", "target_pk"),
)

# Further attributes of any schema a tenant admin maps to custom employee fields.
custom_field_mappings = Table(
    "custom_field_mappings",
    metadata,
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "connection_id",
        Integer(),
        ForeignKey("connections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("field", String(64), primary_key=True),
    Column("path", String(300), nullable=False),
    Column("created_at", DateTime(), nullable=False),
)

# Read-API keys of the host application: ``rk_<id>_<secret>``; the id finds the row, the
# secret's SHA-256 is compared in constant time. The id is public, like a connection uid.
api_keys = Table(
    "api_keys",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(16), nullable=False, unique=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    UniqueConstraint("tenant_id", "name", name="uq_api_keys_name"),
)

# ---- roles, rules and access (issue 5) -----------------------------------------------------

access_groups = Table(
    "access_groups",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("name_key", _binary(200), nullable=False),
    Column("description", Text()),
    Column("created_at", DateTime(), nullable=False),
    UniqueConstraint("tenant_id", "name_key", name="uq_access_groups_name"),
    UniqueConstraint("tenant_id", "id", name="uq_access_groups_id"),
)

# The tenant's ordered rules (Sequr): conditions and actions are JSON documents whose
# meaning rules/ owns; actions name access groups and locations by their public ids.
rules = Table(
    "rules",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("name_key", _binary(200), nullable=False),
    Column("position", Integer(), nullable=False),
    Column("match", String(3), nullable=False),  # all | any
    Column("conditions", JSON(), nullable=False),
    Column("actions", JSON(), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
    UniqueConstraint("tenant_id", "id", name="uq_rules_id"),
    UniqueConstraint("tenant_id", "name_key", name="uq_rules_name"),
    Index("ix_rules_position", "tenant_id", "position"),
)

# A pushed group (by name, per connection) grants a role (Envoy's "Sync admins").
role_mappings = Table(
    "role_mappings",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "connection_id",
        Integer(),
        ForeignKey("connections.id", ondelete="CASCADE"),  # Envoy: mappings are not kept
        nullable=False,
    ),
    Column("group_name", String(512), nullable=False),
    Column("group_key", _binary(512), nullable=False),
    Column("role", String(40), nullable=False),
    Column("locations", JSON(), nullable=False),  # location public ids; [] for company roles
    Column("created_at", DateTime(), nullable=False),
    UniqueConstraint("tenant_id", "id", name="uq_role_mappings_id"),
    UniqueConstraint(
        "tenant_id", "connection_id", "group_key", "role", name="uq_role_mappings_group_role"
    ),
)

# What a role mapping or a rule's group condition names, bound to the group itself
# (directory/entitlements/group_bindings.py): the binding follows the group's renames. A mapping has
# one row (its connection's group); a rule's condition value one per connection, made
# when a group of that name is there. ``group_pk`` NULL: waiting for a group called
# ``name`` to arrive in ``connection_id`` (never pushed yet, or the bound one was deleted:
# then ``name`` is its last name).
group_bindings = Table(
    "group_bindings",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "connection_id",
        Integer(),
        ForeignKey("connections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("mapping_pk", Integer(), ForeignKey("role_mappings.pk", ondelete="CASCADE")),
    Column("rule_pk", Integer(), ForeignKey("rules.pk", ondelete="CASCADE")),
    # A rule's condition value as written, folded (rules/engine.py); "" for a mapping.
    Column("value_key", _binary(512), nullable=False),
    Column("group_pk", BigPK, ForeignKey("resources.pk", ondelete="SET NULL")),
    Column("name", String(512), nullable=False),
    Column("name_key", _binary(512), nullable=False),
    UniqueConstraint("tenant_id", "mapping_pk", name="uq_group_bindings_mapping"),
    UniqueConstraint(
        "tenant_id", "connection_id", "rule_pk", "value_key", name="uq_group_bindings_rule"
    ),
    # What is bound to a group (evaluation joins it to the members' groups; a delete
    # unbinds), and who waits for a name in a connection (a group arriving binds them).
    Index("ix_group_bindings_group", "group_pk"),
    Index("ix_group_bindings_waiting", "tenant_id", "connection_id", "name_key"),
)

# The role an employee holds in one scope: a location (scope_pk = its pk) or the company
# (scope_pk = 0). One row per scope: "at most one location role per location and one
# company role" is the unique constraint.
employee_roles = Table(
    "employee_roles",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer(), nullable=False),
    Column("employee_pk", BigPK, ForeignKey("employees.pk", ondelete="CASCADE"), nullable=False),
    Column("scope_pk", Integer(), nullable=False),
    Column("location_pk", Integer(), ForeignKey("locations.pk", ondelete="CASCADE")),
    Column("role", String(40), nullable=False),
    Column("source", String(6), nullable=False),  # manual | group | rule
    Column("origin", String(600)),  # the group name or the rule id behind a synced role
    # The group behind a role synced from a group: its current name is shown (a rename
    # changes nothing held), ``origin`` once it is gone. No foreign key, on purpose: an
    # evaluation writes roles after locking employees, and a key check would then lock
    # the group's row (FOR KEY SHARE) out of the lock order, against a request deleting
    # that group (which locks the group, then its members' employees). A group's delete
    # re-evaluates its members in its own request, so no role keeps pointing at it.
    Column("group_pk", BigPK),
    Column("connection_id", Integer(), ForeignKey("connections.id", ondelete="SET NULL")),
    # A synced role that a higher-ranking manual role outranks (kept for explain/read API).
    Column("shadowed", String(40)),
    Column("updated_at", DateTime(), nullable=False),
    UniqueConstraint("tenant_id", "employee_pk", "scope_pk", name="uq_employee_roles_scope"),
)

# What a rule granted: access groups, locations and the mobile key. Revoked grants stay
# (status "revoked", with the reason): Sequr deactivates, it does not delete.
employee_grants = Table(
    "employee_grants",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer(), nullable=False),
    Column("employee_pk", BigPK, ForeignKey("employees.pk", ondelete="CASCADE"), nullable=False),
    Column("kind", String(12), nullable=False),  # access_group | location | mobile_key
    Column("target_pk", Integer(), nullable=False),  # access group / location pk; 0: key
    Column("status", String(7), nullable=False),  # active | revoked
    Column("rule_id", String(36)),
    # Counts grants: the onboarding email of the n-th grant is keyed by n, so a retry or a
    # resumed apply can never queue it twice.
    Column("activations", Integer(), nullable=False),
    Column("granted_at", DateTime(), nullable=False),
    Column("revoked_at", DateTime()),
    Column("reason", Text()),
    UniqueConstraint(
        "tenant_id", "employee_pk", "kind", "target_pk", name="uq_employee_grants_target"
    ),
)

# The rule that fired for each employee at its last evaluation (none: no rule matched).
employee_decisions = Table(
    "employee_decisions",
    metadata,
    Column("employee_pk", BigPK, ForeignKey("employees.pk", ondelete="CASCADE"), primary_key=True),
    Column("tenant_id", Integer(), nullable=False),
    Column("rule_id", String(36)),
    Column("evaluated_at", DateTime(), nullable=False),
)

# A re-evaluation of the whole directory, batch by batch: the cursor commits with each
# batch, so a crashed apply resumes after the last committed batch.
rule_runs = Table(
    "rule_runs",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("rules_digest", String(64), nullable=False),
    Column("status", String(8), nullable=False),  # running | done
    Column("cursor_pk", BigInteger(), nullable=False),
    Column("processed", Integer(), nullable=False),
    Column("changed", Integer(), nullable=False),
    Column("batches", Integer(), nullable=False),
    Column("started_at", DateTime(), nullable=False),
    Column("finished_at", DateTime()),
    UniqueConstraint("tenant_id", "id", name="uq_rule_runs_id"),
    Index("ix_rule_runs_status", "tenant_id", "status"),
)

# A console action run in the background (issue 14: apply with progress): a rule apply or
# a CSV import started from the console, run by the server process that took the request.
# done/total are its progress; beat_at is written every second while it runs, so a job
# whose process died is seen as stale (and marked failed) by whoever reads it next.
console_jobs = Table(
    "console_jobs",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),  # rule.apply | employee.import
    Column("state", String(8), nullable=False),  # queued | running | done | failed
    Column("done", Integer(), nullable=False),
    Column("total", Integer(), nullable=False),
    Column("summary", JSON()),  # the result, once done
    Column("error", Text()),  # why it failed
    Column("actor", String(100), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("beat_at", DateTime(), nullable=False),
    Column("finished_at", DateTime()),
    UniqueConstraint("tenant_id", "id", name="uq_console_jobs_id"),
    Index("ix_console_jobs_state", "tenant_id", "kind", "state"),
)

# Outgoing email (the onboarding email of a mobile key): written in the transaction of
# the grant, delivered later; dedupe_key makes a second queueing of one grant a no-op.
email_outbox = Table(
    "email_outbox",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("dedupe_key", String(200), nullable=False),
    Column("employee_id", String(36)),
    Column("to_addr", String(320), nullable=False),
    Column("subject", Text(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("message_id", String(300), nullable=False),
    Column("status", String(7), nullable=False),  # pending | sent
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", DateTime(), nullable=False),
    Column("lease_until", DateTime()),
    Column("last_error", Text()),
    Column("created_at", DateTime(), nullable=False),
    Column("sent_at", DateTime()),
    UniqueConstraint("tenant_id", "dedupe_key", name="uq_email_outbox_dedupe"),
    Index("ix_email_outbox_due", "status", "next_attempt_at"),
)

email_templates = Table(
    "email_templates",
    metadata,
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(32), primary_key=True),  # onboarding
    Column("subject", Text(), nullable=False),
    Column("body", Text(), nullable=False),
    Column("updated_at", DateTime(), nullable=False),
)

# ---- the admin console (issue 14) -----------------------------------------------------
# Admin accounts sign in to /admin/. ``tenant_id`` NULL: an operator account, which sees
# every tenant. The email is the sign-in name, so it is unique across the deployment.
# Passwords are argon2id hashes; every secret handed out (set-password links, session
# cookies, setup links) is stored only as its SHA-256 hash.
admin_accounts = Table(
    "admin_accounts",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE")),
    Column("email", String(320), nullable=False),
    Column("email_key", _binary(320), nullable=False, unique=True),
    Column("password_hash", Text()),  # NULL until the set-password link is used
    Column("created_at", DateTime(), nullable=False),
    Column("password_set_at", DateTime()),
    Index("ix_admin_accounts_tenant", "tenant_id"),
)

# One-time set-password links (``roster admin create|reset``).
admin_password_links = Table(
    "admin_password_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "account_pk",
        Integer(),
        ForeignKey("admin_accounts.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", DateTime(), nullable=False),
    Column("expires_at", DateTime(), nullable=False),
    Index("ix_admin_password_links_account", "account_pk"),
)

# Server-side sessions: the cookie holds a random id, the table its hash.
admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column(
        "account_pk",
        Integer(),
        ForeignKey("admin_accounts.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("created_at", DateTime(), nullable=False),
    Column("last_seen_at", DateTime(), nullable=False),
    Column("address", String(64)),
    Index("ix_admin_sessions_account", "account_pk"),
)

# Sign-in attempts, counted per account (email) and per client address for rate limits.
admin_signin_attempts = Table(
    "admin_signin_attempts",
    metadata,
    Column("id", BigPK, primary_key=True, autoincrement=True),
    Column("email_key", _binary(320), nullable=False),
    Column("address", String(64), nullable=False),
    Column("at", DateTime(), nullable=False),
    Column("succeeded", Integer(), nullable=False),  # 0 or 1
    Index("ix_admin_signin_attempts_email", "email_key", "at"),
    Index("ix_admin_signin_attempts_address", "address", "at"),
)

# One-time setup links: a customer's IT admin creates their connection without an account.
setup_links = Table(
    "setup_links",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", DateTime(), nullable=False),
    Column("expires_at", DateTime(), nullable=False),
    Column("used_at", DateTime()),
    Column("connection_uid", String(36)),  # the connection it created
    Index("ix_setup_links_tenant", "tenant_id", "created_at"),
)

# ---- the event feed (issue 13) ------------------------------------------------------------
# Written by the unit of work (directory/journal/change.py) in the transaction of the change each
# event describes, so an event exists exactly when its change committed. ``ordered_at`` is
# the database clock when the change wrote its events (PostgreSQL: clock_timestamp(),
# taken after every row lock of the change), so two changes of one resource, serialised by
# its row lock, order their events by commit; the feed pages by (ordered_at, id).
events = Table(
    "events",
    metadata,
    Column("id", BigPK, primary_key=True, autoincrement=True),
    Column("uid", String(36), nullable=False, unique=True),  # the public, stable id
    Column("tenant_id", Integer(), nullable=False),
    # The connection's public uid, no foreign key: its events outlive it.
    Column("connection_uid", String(36)),
    Column("type", String(40), nullable=False),
    Column("resource_type", String(16), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("at", DateTime(), nullable=False),  # the change's write time
    Column("ordered_at", DateTime(), nullable=False),
    Column("data", JSON(), nullable=False),
    Index("ix_events_feed", "tenant_id", "ordered_at", "id"),
    Index("ix_events_request", "request_id"),
)

# ---- webhooks (issue 13) ------------------------------------------------------------------
# A tenant's endpoints. ``secret`` is kept as issued (``whsec_…``): it must sign every
# delivery, so it cannot be hashed (docs/events.md, "Webhooks"). ``cursor_at`` /
# ``cursor_uid`` are the feed position up to which the tenant's events have been queued
# for this endpoint (directory/webhook_delivery.dispatch).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("pk", Integer(), primary_key=True, autoincrement=True),
    Column("uid", String(36), nullable=False, unique=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text(), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("event_types", JSON()),  # None: every type
    Column("status", String(8), nullable=False),  # enabled | disabled
    Column("disabled_reason", Text()),
    Column("created_at", DateTime(), nullable=False),
    Column("failing_since", DateTime()),  # first failure since the last success
    Column("cursor_at", DateTime(), nullable=False),
    Column("cursor_uid", String(36), nullable=False),
    Index("ix_webhook_endpoints_tenant", "tenant_id", "pk"),
)

# One event to deliver to one endpoint: the outbox of webhooks, leased like the email
# outbox. ``event_id`` (the feed's key) orders one resource's deliveries; ``body`` is
# frozen when queued, so every retry sends the same bytes under the same webhook-id.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "endpoint_pk",
        Integer(),
        ForeignKey("webhook_endpoints.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("event_id", BigInteger(), nullable=False),  # no foreign key: events are pruned
    Column("message_id", String(36), nullable=False),  # the event's uid: webhook-id
    Column("event_type", String(40), nullable=False),
    Column("resource_key", String(90), nullable=False),  # "Employee/<id>"
    Column("request_id", String(36), nullable=False),  # the event's correlation id
    Column("body", Text(), nullable=False),
    Column("status", String(9), nullable=False),  # pending | delivered
    Column("attempts", Integer(), nullable=False),
    Column("next_attempt_at", DateTime(), nullable=False),
    Column("lease_until", DateTime()),
    Column("last_error", Text()),
    Column("created_at", DateTime(), nullable=False),
    Column("delivered_at", DateTime()),
    UniqueConstraint("endpoint_pk", "event_id", name="uq_webhook_deliveries_event"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    # "no earlier pending delivery of this resource to this endpoint" (the order check)
    Index("ix_webhook_deliveries_order", "endpoint_pk", "resource_key", "event_id"),
)

# Every HTTP attempt (deliveries and pings): `roster webhook deliveries`, and the trail
# of the request that caused the event (`roster log --request ID`).
webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("pk", BigPK, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer(), ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column(
        "endpoint_pk",
        Integer(),
        ForeignKey("webhook_endpoints.pk", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("message_id", String(36), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("attempt", Integer(), nullable=False),
    Column("at", DateTime(), nullable=False),
    Column("status_code", Integer()),  # None: no HTTP answer (refused, timeout)
    Column("latency_ms", Float(), nullable=False),
    Column("error", Text()),
    Column("response_snippet", Text()),
    Index("ix_webhook_attempts_tenant", "tenant_id", "at"),
    Index("ix_webhook_attempts_request", "request_id"),
)

# ---- rate limits (issue 15) -----------------------------------------------------------------
# One token bucket per SCIM connection and per read-API key, shared by every server process
# (directory/admission/rate_limit.py). Keyed by the connection's base URL or the key's
# public id, both unique across tenants, so no tenant_id: nothing here is tenant data, and
# a lost row only refills its bucket. PostgreSQL keeps the table UNLOGGED (the
# migration): no WAL, no fsync.
rate_buckets = Table(
    "rate_buckets",
    metadata,
    Column("key", String(160), primary_key=True),
    Column("tokens", Float(), nullable=False),  # may be slightly negative: requests are post-paid
    Column("at", Float(), nullable=False),  # seconds since the epoch of the last update
    Column("granted", Integer(), nullable=False),  # tokens the last lease handed out
)
