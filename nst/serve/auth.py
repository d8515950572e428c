"""Who may use the studio: anyone on this machine when it listens on loopback; elsewhere only
who holds its token, sent as a header or as the cookie a one-time link sets."""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
from http.cookies import SimpleCookie

TOKEN_HEADER = "x-nst-token"
TOKEN_COOKIE = "nst_token"
LOGIN_PATH = "/login/"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Access:
    """The token (None: open to all, for loopback) and the one-time login codes issued."""

    def __init__(self, token: str | None):
        self.token = token
        self._codes: set[str] = set()
        self._lock = threading.Lock()

    def login_code(self) -> str:
        """A code for one visit of /login/CODE, which sets the token's cookie."""
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes.add(code)
        return code

    def redeem(self, code: str) -> bool:
        with self._lock:
            if code in self._codes:
                self._codes.remove(code)
                return True
        return False

    def allows(self, headers: dict[str, str]) -> bool:
        if self.token is None:
            return True
        given = headers.get(TOKEN_HEADER)
        if given is None and headers.get("authorization", "").lower().startswith("bearer "):
            given = headers["authorization"][7:]
        if given is None:
            cookie = SimpleCookie(headers.get("cookie", ""))
            given = cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else None
        return given is not None and secrets.compare_digest(given.encode(), self.token.encode())


class TokenMiddleware:
    """ASGI middleware: requests and WebSockets without the token are refused (401 / close
    4401), but for the one-time login link."""

    def __init__(self, app, access: Access):
        self.app = app
        self.access = access

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(LOGIN_PATH):
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        if self.access.allows(headers):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401})
            return
        body = json.dumps(
            {"detail": f"this studio needs its token: send the {TOKEN_HEADER} header or open the login link"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
