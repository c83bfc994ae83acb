from __future__ import annotations

from tests.console.conftest import Admin, connect


def test_pages_render(admin: Admin, engine) -> None:
    scim = connect(engine, admin.http, admin)
    user = scim.create_user("ann@example.test", name={"givenName": "Ann", "familyName": "Lee"})
    for path in [
        "/admin/",
        f"/admin/t/{admin.slug}/",
        f"/admin/t/{admin.slug}/connections/{scim.connection_id}",
        f"/admin/t/{admin.slug}/connections/{scim.connection_id}/regenerate",
        f"/admin/t/{admin.slug}/employees",
        f"/admin/t/{admin.slug}/employees?q=ann",
        f"/admin/t/{admin.slug}/rules",
        f"/admin/t/{admin.slug}/rules/dry-run",
        f"/admin/t/{admin.slug}/log",
        f"/admin/t/{admin.slug}/log.csv",
    ]:
        r = admin.http.get(path)
        assert r.status_code == 200, (path, r.text[:2000])
    assert user
