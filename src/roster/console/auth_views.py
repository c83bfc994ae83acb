"""Sign-in, sign-out, set-password links and setup links: the console pages reachable
without a session."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roster.console import guides
from roster.console.web import (
    BASE,
    PRE_COOKIE,
    SESSION_COOKIE,
    Console,
    Refused,
    client_address,
    csrf_for,
    form,
    pre_secret,
    redirect,
    signed_in,
)
from roster.directory.admin import admins, setup_links, tenancy
from roster.errors import InvalidLink, RosterError, TooManyRequests


def _safe_next(target: str | None) -> str:
    # Only a console path: never an absolute or scheme-relative URL (no open redirect).
    if target and target.startswith(BASE + "/") and not target.startswith("//"):
        return target
    return BASE + "/"


def routes(console: Console) -> list[Route]:  # noqa: C901 (one small closure per route, registered in one place)
    async def login(request: Request) -> Response:
        secret, fresh = pre_secret(request)
        status, error = 200, None
        email = ""
        nxt = _safe_next(request.query_params.get("next"))
        if request.method == "POST":
            data = await form(request, request.cookies.get(PRE_COOKIE))
            email = str(data.get("email", ""))
            nxt = _safe_next(str(data.get("next", "")))
            at = console.clock()
            address = client_address(request)
            try:
                issued = await console.db(
                    lambda c: admins.sign_in(c, email, str(data.get("password", "")), address, at)
                )
            except TooManyRequests as err:
                issued, status, error = None, 429, err.detail
            else:
                if issued is None:
                    status, error = 401, "Wrong email or password."
            if issued is not None:
                done = redirect(nxt)
                console.set_cookie(
                    done, SESSION_COOKIE, issued.token, int(console.absolute.total_seconds())
                )
                done.delete_cookie(PRE_COOKIE, path=BASE)
                return done
        response = console.render(
            request,
            "login.html",
            status,
            title="Sign in",
            csrf=csrf_for(secret),
            error=error,
            email=email,
            next=nxt,
        )
        if fresh:
            console.set_cookie(response, PRE_COOKIE, secret, 3600)
        return response

    async def logout(request: Request) -> Response:
        me = await signed_in(console, request)
        await form(request, me.token)
        await console.db(lambda c: admins.sign_out(c, me.token, me.account), me.request_id)
        response = redirect(f"{BASE}/login")
        response.delete_cookie(SESSION_COOKIE, path=BASE)
        return response

    async def password(request: Request) -> Response:
        token = request.path_params["token"]
        secret, fresh = pre_secret(request)
        at = console.clock()
        error, status = None, 200
        try:
            account = await console.db(lambda c: admins.account_for_link(c, token, at))
        except InvalidLink as err:
            raise Refused(404, err.detail) from None
        if request.method == "POST":
            data = await form(request, request.cookies.get(PRE_COOKIE))
            chosen, again = str(data.get("password", "")), str(data.get("confirm", ""))
            if chosen != again:
                status, error = 400, "the two passwords differ"
            else:
                try:
                    await console.db(lambda c: admins.set_password(c, token, chosen, at))
                except RosterError as err:
                    status, error = err.status, err.detail
                else:
                    return console.render(
                        request,
                        "message.html",
                        title="Password set",
                        heading="Password set",
                        message=f"You can now sign in as {account.email}.",
                        link=f"{BASE}/login",
                        link_text="Sign in",
                    )
        response = console.render(
            request,
            "password.html",
            status,
            title="Choose a password",
            csrf=csrf_for(secret),
            email=account.email,
            error=error,
            minimum=admins.MIN_PASSWORD,
        )
        if fresh:
            console.set_cookie(response, PRE_COOKIE, secret, 3600)
        return response

    async def setup(request: Request) -> Response:
        token = request.path_params["token"]
        secret, fresh = pre_secret(request)
        at = console.clock()
        try:
            link = await console.db(lambda c: setup_links.open_link(c, token, at))
        except InvalidLink as err:
            raise Refused(404, err.detail) from None
        error, status, idp, name = None, 200, "okta", ""
        if request.method == "POST":
            data = await form(request, request.cookies.get(PRE_COOKIE))
            idp, name = str(data.get("idp", "")), str(data.get("name", "")).strip()
            try:
                issued = await console.db(lambda c: setup_links.use(c, token, idp, name, at))
            except InvalidLink as err:
                raise Refused(404, err.detail) from None
            except RosterError as err:
                status, error = err.status, err.detail
            else:
                row = issued.connection
                base_url = console.settings.base_url(row.tenant_slug, row.uid)
                return console.render(
                    request,
                    "setup_done.html",
                    title="Connection created",
                    connection=row,
                    base_url=base_url,
                    token=issued.token,
                    guide=guides.render(row.idp, base_url, row.uid, issued.token),
                    headers={"Cache-Control": "no-store"},
                )
        response = console.render(
            request,
            "setup.html",
            status,
            title=f"Set up provisioning for {link.tenant_name}",
            csrf=csrf_for(secret),
            link=link,
            error=error,
            idps=tenancy.IDP_KINDS,
            idp=idp,
            name=name,
        )
        if fresh:
            console.set_cookie(response, PRE_COOKIE, secret, 3600)
        return response

    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/password/{token}", password, methods=["GET", "POST"]),
        Route("/setup/{token}", setup, methods=["GET", "POST"]),
    ]
