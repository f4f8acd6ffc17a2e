"""Transport bounds of ``rlenvs serve-env``: what a flooding client cannot make the server hold.

Sessions are bounded and reaped by :mod:`rlenvs.serving.sessions`; this module bounds the rest:

* a connection must finish its request head (an HTTP request, or the WebSocket handshake)
  within ``head_timeout_s``, else it is closed: uvicorn times out idle keep-alive connections
  only after a first response, so a client opening sockets and sending nothing (or a byte now
  and then) would otherwise hold them, and their file descriptors, for ever;
* a WebSocket frame larger than ``max_message_bytes`` closes that connection (1009);
* an HTTP request body is read up to ``max_message_bytes`` within ``head_timeout_s``
  (:func:`read_body`), else refused.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["BodyTooLarge", "BodyTooSlow", "bounded_config", "read_body"]


class BodyTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request larger than the server's limit of {limit} bytes")


class BodyTooSlow(TimeoutError):
    def __init__(self, limit: float) -> None:
        super().__init__(f"request body not received within {limit:g} s")


def _protocol(head_timeout_s: float) -> type[H11Protocol]:
    class HeadDeadlineProtocol(H11Protocol):
        """uvicorn's h11 protocol, with a deadline on the first request head."""

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_timer = self.loop.call_later(head_timeout_s, self._head_deadline)

        def _head_deadline(self) -> None:
            if self.cycle is None and not self.transport.is_closing():  # no request yet
                self.transport.close()

        def handle_websocket_upgrade(self, event: Any) -> None:
            self._head_timer.cancel()  # the WebSocket protocol owns the connection now
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_timer.cancel()
            super().connection_lost(exc)

    return HeadDeadlineProtocol


def bounded_config(app: Any, *, host: str, port: int, log_level: str, max_message_bytes: int,
                   head_timeout_s: float) -> Any:
    """A ``uvicorn.Config`` serving ``app`` under the bounds above."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                          http=_protocol(head_timeout_s),
                          ws_max_size=max_message_bytes, ws_ping_interval=20,
                          ws_ping_timeout=20)


async def read_body(receive: Any, limit: int, timeout_s: float, declared: str = "") -> bytes:
    """A request body from ``receive`` (``request.stream()``), bounded in size and time."""
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    body = bytearray()

    async def gather() -> None:
        async for chunk in receive:
            body.extend(chunk)
            if len(body) > limit:
                raise BodyTooLarge(limit)

    try:
        await asyncio.wait_for(gather(), timeout=timeout_s)
    except TimeoutError:
        raise BodyTooSlow(timeout_s) from None
    return bytes(body)
