"""The CLI as a newcomer uses it (issue 15, "CLI friction"): connections by the start of
their id or by name, `rule edit`, `employee import --update`, confirmations, one field
vocabulary, `role list`, human output, clear messages, Unicode tenant slugs.

In-process (typer's CliRunner) on the suite's database, SQLite or PostgreSQL; stdin is not
a terminal there, as in a script. One test drives a real process on a pseudo-terminal:
the prompt itself."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from roster.cli import app as cli_app
from roster.directory.admin import tenancy
from roster.directory.journal.system_log import now
from roster.directory.people import employees
from roster.directory.people.employees import ManualEmployee
from roster.directory.places import locations
from roster.errors import InvalidValue, NotFound
from roster.storage import access as access_store
from roster.storage.tenancy import insert_connection
from tests.conftest import new_connection
from tests.e2e.conftest import ROSTER, roster_env


@dataclass
class Cli:
    runner: CliRunner

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(cli_app, list(args))
        assert result.exit_code == code, result.output + (result.stderr or "")
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)

    def refused(self, *args: str) -> str:
        """Exit 1 with ``error: …`` (and the same as JSON with --json); the message."""
        text = self(*args, code=1)
        assert text.stdout == "" and text.stderr.startswith("error: ")
        message = str(self.json(*args, code=1)["error"])
        assert text.stderr == f"error: {message}\n"
        return message


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Cli:
    monkeypatch.setenv("ROSTER_DATABASE_URL", db_url)
    monkeypatch.setenv("ROSTER_PUBLIC_URL", "http://testserver")
    return Cli(CliRunner())


def _tenant(engine: Engine, prefix: str = "cli") -> tuple[str, int]:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        tenant_id = tenancy.create_tenant(conn, name).id
        locations.add(conn, tenant_id, "HQ")
        locations.add(conn, tenant_id, "Annex")
    return name, tenant_id


def _connection(engine: Engine, tenant: str, name: str, uid: str | None = None) -> str:
    with engine.begin() as conn:
        if uid is None:
            return tenancy.create_connection(conn, tenant, "okta", name).connection.uid
        # A chosen id: two ids that share a start, as random ones rarely do.
        row = tenancy.get_tenant(conn, tenant)
        at = now()
        insert_connection(
            conn,
            {
                "uid": uid,
                "tenant_id": row.id,
                "name": name,
                "idp": "generic",
                "status": "active",
                "token_hash": tenancy.hash_token(tenancy.new_token()),
                "token_created_at": at,
                "created_at": at,
                "options": {},
            },
        )
        return uid


# ---- 1. connections by id, start of id, or name ------------------------------------------


def test_the_resolver_takes_an_id_its_start_or_a_name(engine: Engine) -> None:
    a, _ = _tenant(engine)
    b, _ = _tenant(engine)
    a_okta = _connection(engine, a, "okta")
    b_okta = _connection(engine, b, "okta")
    entra = _connection(engine, a, "Entra prod")
    short_name = _connection(engine, a, "hr")
    shared = uuid.uuid4().hex[:8]
    twins = [
        _connection(engine, a, f"twin {n}", f"{shared}-0000-4000-8000-00000000000{n}")
        for n in (1, 2)
    ]
    with engine.begin() as conn:
        resolve = tenancy.resolve_connection
        assert resolve(conn, a_okta).uid == a_okta
        assert resolve(conn, a_okta.upper()).uid == a_okta
        assert resolve(conn, f"  {a_okta[:8]} ").uid == a_okta  # as `roster log` shows it
        assert resolve(conn, "ENTRA PROD").uid == entra
        assert resolve(conn, "okta", a).uid == a_okta
        assert resolve(conn, "okta", b).uid == b_okta
        with pytest.raises(InvalidValue) as two_tenants:
            resolve(conn, "okta")
        message = two_tenants.value.detail
        assert "connection 'okta' is ambiguous" in message
        assert f"{a_okta} ('okta' of tenant {a!r})" in message
        assert f"{b_okta} ('okta' of tenant {b!r})" in message
        assert "--tenant" in message
        with pytest.raises(InvalidValue) as two_ids:
            resolve(conn, shared)
        assert twins[0] in two_ids.value.detail and twins[1] in two_ids.value.detail
        assert resolve(conn, twins[1][:-1] + "2").uid == twins[1]
        assert resolve(conn, f"{shared}-0000-4000-8000-000000000001").uid == twins[0]
        # Another tenant's connection is not found from this one, even by its full id.
        with pytest.raises(NotFound, match=f"no connection {b_okta!r} in tenant {a!r}"):
            resolve(conn, b_okta, a)
        # A start shorter than 4 characters is no id (it would match by accident)...
        with pytest.raises(NotFound, match="an id needs at least 4 characters"):
            resolve(conn, shared[:3])
        # ...but a short name is a name.
        assert resolve(conn, "HR", a).uid == short_name
        # LIKE's wildcards are plain characters here.
        with pytest.raises(NotFound):
            resolve(conn, "%%%%")
        with pytest.raises(NotFound):
            resolve(conn, "____")


def test_every_command_taking_a_connection_takes_a_name_or_prefix(cli: Cli, engine: Engine) -> None:
    t, _ = _tenant(engine)
    uid = _connection(engine, t, "Okta prod")
    short = uid[:8]
    assert cli.json("connection", "show", short)["id"] == uid
    assert cli.json("connection", "show", "okta prod", "--tenant", t)["id"] == uid
    shown = cli("connection", "show", short).stdout
    assert f"`roster connection configure {short} --set NAME=VALUE`" in shown
    # A name is unique only within its tenant: the suite's database has other "Okta prod"s.
    assert cli.json("connection", "deactivate", "Okta prod", "--tenant", t)["status"] == "inactive"
    assert cli.json("connection", "activate", short)["status"] == "active"
    configured = cli.json("connection", "configure", short, "--set", "boolean_strings=true")
    assert configured["id"] == uid
    assert cli.json("token", "regenerate", "Okta prod", "--tenant", t, "--yes")["id"] == uid
    cli.json("mapping", "set", short, "badge", "urn:x:badge")
    shown_mapping = cli.json("mapping", "show", "okta prod", "--tenant", t)
    assert shown_mapping["custom"] == {"badge": "urn:x:badge"}
    mapped = cli.json(
        "role", "map", "--tenant", t, "--connection", short, "--group", "Admins",
        "--role", "Global admin",
    )  # fmt: skip
    assert mapped["connection"]["id"] == uid
    listed = cli.json("role", "mappings", "--tenant", t, "--connection", "Okta prod")
    assert [m["id"] for m in listed] == [mapped["id"]]
    log = cli.json("log", "--tenant", t, "--connection", short)
    assert log and {e["connection_uid"] for e in log} == {uid}
    assert cli.json("employee", "list", "--tenant", t, "--source", "okta prod") == []
    assert "no connection 'nope'" in cli.refused("connection", "show", "nope")
    assert "no connection 'nope' in tenant" in cli.refused(
        "employee", "list", "--tenant", t, "--source", "nope"
    )
    deleted = cli.json("connection", "delete", short, "--yes")
    assert deleted["deleted"] == uid


# ---- 4. confirmations ----------------------------------------------------------------------


def test_destructive_commands_ask_first_and_refuse_without_a_terminal(
    cli: Cli, engine: Engine
) -> None:
    t, _ = _tenant(engine)
    uid = _connection(engine, t, "okta")
    cli.json("employee", "add", "--tenant", t, "--email", "temp@corp.test")
    key = cli.json("apikey", "create", "--tenant", t)["id"]
    mapping = cli.json(
        "role", "map", "--tenant", t, "--connection", uid, "--group", "G", "--role", "Global admin"
    )["id"]
    cli.json("role", "assign", "--tenant", t, "temp@corp.test", "--role", "Billing admin")
    cli.json("access-group", "add", "--tenant", t, "Doors")
    cli.json("rule", "add", "--tenant", t, "Everyone")
    cli.json("location", "map", "--tenant", t, "SF", "HQ")
    cli.json("mapping", "set", uid, "badge", "urn:x:badge")
    admin = f"it-{uuid.uuid4().hex[:6]}@corp.test"
    cli.json("admin", "create", "--tenant", t, "--email", admin)
    with engine.begin() as conn:
        token_before = tenancy.get_connection(conn, uid).token_hash

    commands = [
        ("token", "regenerate", uid),
        ("connection", "delete", uid),
        ("employee", "remove", "--tenant", t, "temp@corp.test"),
        ("location", "remove", "--tenant", t, "Annex"),
        ("location", "unmap", "--tenant", t, "SF"),
        ("apikey", "revoke", "--tenant", t, key),
        ("role", "unmap", "--tenant", t, mapping),
        ("role", "unassign", "--tenant", t, "temp@corp.test"),
        ("access-group", "remove", "--tenant", t, "Doors"),
        ("rule", "remove", "--tenant", t, "Everyone"),
        ("mapping", "remove", uid, "badge"),
        ("webhook", "remove", "--tenant", t, str(uuid.uuid4())),
        ("admin", "remove", admin),
        ("admin", "reset", admin),
    ]
    for command in commands:
        message = cli(*command, code=1).stderr
        assert "add --yes" in message and "no terminal to ask on" in message, command
    # With --json there is no prompt either (stdout is the one JSON document).
    assert "add --yes" in cli.json("apikey", "revoke", "--tenant", t, key, code=1)["error"]
    # Nothing changed.
    with engine.begin() as conn:
        assert tenancy.get_connection(conn, uid).token_hash == token_before
    assert [e["email"] for e in cli.json("employee", "list", "--tenant", t)] == ["temp@corp.test"]
    assert {loc["name"] for loc in cli.json("location", "list", "--tenant", t)} == {"HQ", "Annex"}
    assert cli.json("location", "mappings", "--tenant", t) == [{"value": "SF", "location": "HQ"}]
    assert [k["id"] for k in cli.json("apikey", "list", "--tenant", t)] == [key]
    assert [m["id"] for m in cli.json("role", "mappings", "--tenant", t)] == [mapping]
    assert cli.json("role", "show", "--tenant", t, "temp@corp.test")["roles"]
    assert [g["name"] for g in cli.json("access-group", "list", "--tenant", t)] == ["Doors"]
    assert [r["name"] for r in cli.json("rule", "list", "--tenant", t)] == ["Everyone"]
    assert cli.json("mapping", "show", uid)["custom"] == {"badge": "urn:x:badge"}
    assert [a["email"] for a in cli.json("admin", "list", "--tenant", t)] == [admin]
    # --yes (or -y) does it.
    assert cli.json("apikey", "revoke", "--tenant", t, key, "-y") == {"revoked": key}
    assert cli.json("employee", "remove", "--tenant", t, "temp@corp.test", "--yes")["email"] == (
        "temp@corp.test"
    )
    assert cli.json("location", "remove", "--tenant", t, "Annex", "--yes")["name"] == "Annex"


def test_the_prompt_on_a_terminal_says_what_happens_and_defaults_to_no(
    db_url: str, engine: Engine
) -> None:
    t, _ = _tenant(engine)
    uid = _connection(engine, t, "okta")

    def answer(reply: bytes) -> subprocess.CompletedProcess[str]:
        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [ROSTER, "token", "regenerate", uid[:8]],
            env=roster_env(db_url),
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.close(follower)
        os.write(leader, reply)
        out, err = process.communicate(timeout=60)
        os.close(leader)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def token_hash() -> str:
        with engine.begin() as conn:
            return tenancy.get_connection(conn, uid).token_hash

    before = token_hash()
    declined = answer(b"\n")  # Enter: the default, no
    assert declined.returncode == 1
    assert declined.stdout.startswith(f"Issue a new token for connection 'okta' ({uid}, tenant ")
    assert "The current token stops working at once" in declined.stdout
    assert "[y/N]" in declined.stdout
    assert "nothing changed" in declined.stderr
    assert token_hash() == before
    accepted = answer(b"y\n")
    assert accepted.returncode == 0, accepted.stderr
    assert "new token for 'okta' (the old one is revoked)" in accepted.stdout
    assert token_hash() != before


# ---- 2. rule edit --------------------------------------------------------------------------


def test_rule_edit_keeps_the_id_and_position_and_what_it_does_not_name(
    cli: Cli, engine: Engine
) -> None:
    t, _ = _tenant(engine)
    cli.json("access-group", "add", "--tenant", t, "Doors")
    first = cli.json(
        "rule", "add", "--tenant", t, "Boston", "--if", "city eq Boston", "--access-group",
        "Doors", "--role", "Deliveries", "--location", "HQ", "--mobile-key",
    )  # fmt: skip
    cli.json("rule", "add", "--tenant", t, "Everyone", "--location", "Annex")
    edited = cli.json(
        "rule", "edit", "--tenant", t, "Boston", "--name", "Boston staff",
        "--if", "postal_code sw 02", "--if", "groups any Eng", "--match", "any",
    )  # fmt: skip
    assert (edited["id"], edited["position"], edited["name"]) == (
        first["id"],
        1,
        "Boston staff",
    )
    assert (edited["match"], edited["conditions"]) == (
        "any",
        ["postalCode starts_with 02", "groups any Eng"],
    )
    assert edited["grants"] == first["grants"]  # not named: kept
    cleared = cli.json(
        "rule", "edit", "--tenant", t, first["id"], "--clear-if", "--no-role",
        "--clear-locations", "--clear-access-groups", "--no-mobile-key",
    )  # fmt: skip
    assert cleared["conditions"] == [] and cleared["position"] == 1
    assert cleared["grants"] == {
        "access_groups": [],
        "role": None,
        "locations": [],
        "mobile_key": False,
    }
    text = cli("rule", "edit", "--tenant", t, "1", "--location", "HQ").stdout
    assert text.startswith("rule edited:\n1. Boston staff (")
    assert "roster rule dry-run" in text
    assert [r["id"] for r in cli.json("rule", "list", "--tenant", t)][:1] == [first["id"]]
    assert "already exists" in cli.refused(
        "rule", "edit", "--tenant", t, "Boston staff", "--name", "everyone"
    )
    assert "no rule 'nope'" in cli.refused("rule", "edit", "--tenant", t, "nope", "--name", "x")
    assert cli("rule", "edit", "--tenant", t, "1", "--if", "city eq X", "--clear-if", code=2)


# ---- 3. employee import --update, and the delimiter ----------------------------------------


def test_import_update_changes_manual_employees_and_refuses_synced_ones(
    cli: Cli, engine: Engine, client: TestClient, tmp_path: Path
) -> None:
    scim = new_connection(engine, client)
    t = scim.tenant
    with engine.begin() as conn:
        locations.add(conn, scim.tenant_id, "HQ")
        employees.add_manual(
            conn,
            scim.tenant_id,
            ManualEmployee("ann@corp.test", {"title": "Temp", "city": "Oslo"}, ["HQ"]),
        )
    scim.create_user("bob", emails=[{"value": "bob@corp.test", "primary": True}])
    people = tmp_path / "people.csv"
    people.write_text(
        "email,title,department\n"
        "ANN@corp.test,Contractor,\n"
        "bob@corp.test,Boss,Ops\n"
        "cid@corp.test,New,Eng\n"
    )
    # Without --update, an existing email is refused as before.
    plain = cli("employee", "import", "--tenant", t, str(people), code=1).stdout.splitlines()
    assert plain[0] == "1 of 3 rows imported, 2 refused"
    cid_again = tmp_path / "again.csv"
    cid_again.write_text(people.read_text())
    report = cli.json("employee", "import", "--tenant", t, str(cid_again), "--update", code=1)
    assert [(r["row"], r["email"], r["action"]) for r in report["results"]] == [
        (2, "ANN@corp.test", "updated"),
        (3, "bob@corp.test", "refused"),
        (4, "cid@corp.test", "updated"),
    ]
    assert "is synced" in report["results"][1]["error"]
    assert "change it in the IdP" in report["results"][1]["error"]
    assert (report["added"], report["updated"], report["refused"]) == (0, 2, 1)
    ann = cli.json("employee", "show", "--tenant", t, "ann@corp.test")
    # The file's columns replace (an empty cell clears), the others stay, as do locations.
    assert (ann["title"], ann["department"], ann["city"]) == ("Contractor", None, "Oslo")
    assert [loc["name"] for loc in ann["locations"]] == ["HQ"]
    assert ann["email"] == "ann@corp.test"
    bob = cli.json("employee", "show", "--tenant", t, "bob@corp.test")
    assert bob["title"] is None and bob["source"]["type"] == "synced"
    moved = tmp_path / "moved.csv"
    moved.write_text("email,locations,givenName\nann@corp.test,,Ann\ndan@corp.test,HQ,Dan\n")
    text = cli("employee", "import", "--tenant", t, str(moved), "--update").stdout
    assert text.splitlines() == [
        "2 of 2 rows imported (1 added, 1 updated), 0 refused",
        "  row 2 (ann@corp.test): updated",
        "  row 3 (dan@corp.test): added",
    ]
    ann = cli.json("employee", "show", "--tenant", t, "ann@corp.test")
    assert ann["locations"] == [] and ann["givenName"] == "Ann" and ann["title"] == "Contractor"


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_semicolon_or_tab_separated_file_is_read(
    cli: Cli, engine: Engine, tmp_path: Path, delimiter: str
) -> None:
    t, _ = _tenant(engine)
    people = tmp_path / "people.csv"
    rows = [["email", "givenName", "locations"], ["a@corp.test", "Ann", "HQ;Annex"]]
    if delimiter == ";":
        rows[1][2] = '"HQ;Annex"'  # a spreadsheet quotes a value holding its delimiter
    people.write_text("\n".join(delimiter.join(r) for r in rows) + "\n")
    report = cli.json("employee", "import", "--tenant", t, str(people))
    assert report["imported"] == 1
    ann = cli.json("employee", "show", "--tenant", t, "a@corp.test")
    assert ann["givenName"] == "Ann"
    assert [loc["name"] for loc in ann["locations"]] == ["Annex", "HQ"]


# ---- 5. one field vocabulary ---------------------------------------------------------------


def test_rules_stored_with_the_older_names_still_work_and_show_the_new_ones(
    cli: Cli, engine: Engine
) -> None:
    t, tenant_id = _tenant(engine)
    with engine.begin() as conn:
        employees.add_manual(
            conn, tenant_id, ManualEmployee("ann@corp.test", {"postalCode": "02110"})
        )
        at = now()
        access_store.insert_rule(
            conn,
            tenant_id,
            {
                "id": str(uuid.uuid4()),
                "position": 1,
                "name": "Legacy",
                "name_key": "legacy",
                "match": "all",
                # As a rule added before the rename is stored.
                "conditions": [{"field": "postal_code", "op": "starts_with", "values": ["02"]}],
                "actions": {"access_groups": [], "role": None, "locations": [], "mobile_key": True},
                "created_at": at,
                "updated_at": at,
            },
        )
    [rule] = cli.json("rule", "list", "--tenant", t)
    assert rule["conditions"] == ["postalCode starts_with 02"]
    assert "if all of: postalCode starts_with 02" in rule["description"]
    explained = cli.json("employee", "explain", "--tenant", t, "ann@corp.test")
    assert explained["rule"]["name"] == "Legacy"
    [condition] = explained["rules_tried"][0]["conditions"]
    assert condition == {
        "condition": "postalCode starts_with 02",
        "passed": True,
        "because": "postalCode starts_with 02 is true: postalCode is '02110'",
    }
    added = cli.json("rule", "add", "--tenant", t, "New", "--if", "userType eq Contractor")
    assert added["conditions"] == ["userType eq Contractor"]


# ---- 6-8. role list, human output, messages, slugs -----------------------------------------


def test_role_list_and_its_hidden_old_name(cli: Cli) -> None:
    listed = cli.json("role", "list")
    assert listed["company"] == ["Global admin", "Billing admin"]
    assert cli.json("role", "list-roles") == listed
    helped = cli("role", "--help").stdout
    assert " list " in helped and "list-roles" not in helped


def test_employee_show_reads_as_text_unless_json(cli: Cli, engine: Engine) -> None:
    t, tenant_id = _tenant(engine)
    with engine.begin() as conn:
        employees.add_manual(
            conn,
            tenant_id,
            ManualEmployee("ann@corp.test", {"givenName": "Ann", "postalCode": "02110"}, ["HQ"]),
        )
    data = cli.json("employee", "show", "--tenant", t, "ann@corp.test")
    text = cli("employee", "show", "--tenant", t, "ann@corp.test").stdout
    lines = text.splitlines()
    assert lines[0] == "ann@corp.test"
    assert f"  id:             {data['id']}" in lines
    assert "  source:         manual (added by an admin)" in lines
    assert "  givenName:      Ann" in lines
    assert "  postalCode:     02110" in lines
    assert "  locations:      HQ" in lines
    assert "  manager:        -" in lines
    assert not text.lstrip().startswith("{")


def test_an_unbalanced_quote_in_a_condition_is_said_plainly(cli: Cli, engine: Engine) -> None:
    t, _ = _tenant(engine)
    message = cli.refused("rule", "add", "--tenant", t, "NY", "--if", 'city eq "New York')
    assert message.startswith("condition 'city eq \"New York': unbalanced quote (")
    assert "No closing quotation" not in message
    assert cli.json("rule", "list", "--tenant", t) == []


def test_tenant_slugs_keep_accented_letters(cli: Cli) -> None:
    suffix = uuid.uuid4().hex[:6]
    created = cli.json("tenant", "create", f"Ünïcode Co {suffix}")
    assert created["slug"] == f"unicode-co-{suffix}"
    assert cli.json("tenant", "create", f"Straße {suffix}")["slug"] == f"strasse-{suffix}"
    assert cli.json("tenant", "create", f"東京 {suffix}")["slug"] == suffix
