"""ASGI middleware in front of everything the server answers (API, UI, files).

* :class:`BodyLimit` answers 413 to a body over the limit: at once when its Content-Length says
  so (nothing is read), else as soon as the bytes received pass the limit.
* :class:`PathGuard` refuses paths that climb out of a folder (``..`` however it is encoded,
  backslashes, NUL) and file routes (``/file=...``, ``/gradio_api/file=...``) that point
  anywhere but the server's own folders, or at another host.
* :class:`TokenAuth` requires the token, when one is set: ``Authorization: Bearer T``, the
  ``synesthesia_token`` cookie, or ``?token=T`` once (which sets the cookie, for browsers).

Every refusal is a short JSON body ``{"error": ..., "status": ...}``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, unquote

COOKIE = "synesthesia_token"
OPEN_PATHS = ("/v1/health",)


async def send_json(send, status: int, message: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message, "status": status}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimit:
    """413 for request bodies over ``max_bytes``."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _message(self) -> str:
        return (f"the request body is larger than the server's limit of "
                f"{self.max_bytes / 2**20:g} MB; send a smaller file (or start the server with --max-upload-mb)")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                return await send_json(send, 400, "Content-Length is not a number")
            if declared > self.max_bytes:
                return await send_json(send, 413, self._message(), [(b"connection", b"close")])
        received, started = 0, False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _TooLarge:
            if started:
                raise
            await send_json(send, 413, self._message(), [(b"connection", b"close")])


def _decoded(path: str, rounds: int = 4) -> str:
    """``path`` percent-decoded until it stops changing (double encoding included)."""
    for _ in range(rounds):
        new = unquote(path)
        if new == path:
            break
        path = new
    return path


def _file_target(path: str) -> str | None:
    """What a gradio file route asks for, or None when ``path`` is no file route."""
    for marker in ("/file=", "/file/"):
        at = path.find(marker)
        if at >= 0 and (marker == "/file=" or path[:at] in ("", "/gradio_api")):
            return path[at + len(marker):]
    return None


class PathGuard:
    """403 for traversal and for file routes outside ``roots``."""

    def __init__(self, app, roots: Sequence[Path]) -> None:
        self.app = app
        self.roots = [Path(r).resolve() for r in roots]

    def refusal(self, scope) -> str | None:
        raw = scope.get("raw_path") or scope.get("path", "").encode()
        for text in (_decoded(raw.decode("latin-1")), _decoded(scope.get("path", ""))):
            if "\x00" in text or "\\" in text:
                return "the path holds a backslash or NUL"
            if ".." in text.replace("=", "/").split("/"):
                return "the path climbs out of its folder ('..')"
            target = _file_target(text)
            if target is not None and not self._allowed(target):
                return "that file is not served"
        return None

    def _allowed(self, target: str) -> bool:
        if "://" in target or target.startswith("//") or not target:
            return False
        try:
            path = Path(target).resolve()
        except (OSError, RuntimeError, ValueError):
            return False
        return any(path == root or root in path.parents for root in self.roots)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            reason = self.refusal(scope)
            if reason is not None:
                if scope["type"] == "websocket":
                    return await send({"type": "websocket.close", "code": 1008})
                return await send_json(send, 403, reason)
        await self.app(scope, receive, send)


class TokenAuth:
    """401 unless the request carries ``token`` (no-op when ``token`` is None)."""

    def __init__(self, app, token: str | None) -> None:
        self.app, self.token = app, token

    def _matches(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    def _presented(self, scope) -> tuple[bool, bool]:
        """(authorised, came from the query string)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and self._matches(auth[7:].strip()):
            return True, False
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            cookie = SimpleCookie()
        if COOKIE in cookie and self._matches(cookie[COOKIE].value):
            return True, False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if self._matches((query.get("token") or [None])[0]):
            return True, True
        return False, False

    async def __call__(self, scope, receive, send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket") or scope.get("path") in OPEN_PATHS:
            return await self.app(scope, receive, send)
        ok, from_query = self._presented(scope)
        if not ok:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            return await send_json(send, 401, "this server requires a token: send 'Authorization: Bearer TOKEN' "
                                              "or open the page once with ?token=TOKEN",
                                   [(b"www-authenticate", b"Bearer")])
        if not from_query or scope["type"] != "http":
            return await self.app(scope, receive, send)
        cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def with_cookie(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, with_cookie)
