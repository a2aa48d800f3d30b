"""A cap on the size of every request body but uploads (which Gradio caps with max_file_size).

Without it, a visitor can post a 20 MB "text" to any event, private ones included, and the
server parses all of it before any handler can refuse it. A plain ASGI middleware, so it runs
before routing, and it reads nothing of a body whose declared length is already too large.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATH_SUFFIX = "/upload"


class RequestSizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/").endswith(UPLOAD_PATH_SUFFIX):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared)
            return
        if declared is not None or scope["method"] in ("GET", "HEAD"):
            # The server reads no more than a declared length (h11 frames the body by it), and
            # a GET has no body: only a chunked body needs counting.
            await self.app(scope, receive, send)
            return

        received = 0
        refused = False

        async def counting_receive() -> Message:
            # A body sent without a length (chunked) is counted as it arrives.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes and not refused:
                    refused = True
                    await self._refuse(send, received)
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counting_receive, send_unless_refused)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(
            {
                "error": f"The request is {size:,} bytes or more; this server accepts at most "
                f"{self.max_bytes:,} bytes per request (uploads have their own limit). Send a "
                "shorter text."
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
