"""One websocket session of a worker: ``init``, then its events and a heartbeat until it closes.

The upgrade happens inside the WSGI app: ``simple_websocket`` takes over the connection's socket
(``environ['werkzeug.socket']``) and speaks RFC 6455 through wsproto, so the bridge shares the
REST API's port and server, at the path the SDK expects.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque

from .tokens import Grant

# The SDK closes and reconnects after 30 s without a frame; Event Bridge beats every 15 s at most.
HEARTBEAT_SECONDS = 10.0
# How often a session looks for a closed connection between frames: the worker goes offline
# within a second of its last session closing (setWorkerOfflineIfDisconnected).
POLL_SECONDS = 0.2
HEARTBEAT_FRAME = " "  # whitespace only: the SDK counts it as a beat and parses nothing
# Real Event Bridge delivers an event asynchronously, some time after the reply of the call that
# caused it, and SDK code relies on that: it attaches listeners once a call resolves. Written
# back to back on two sockets, a reply and an event can reach Node's event loop in either order,
# so every frame leaves this long after it was queued (the same delay for all, so order holds).
EVENT_DELAY_SECONDS = 0.1


class Session:
    """An open event stream of one worker. ``push`` queues a frame; ``run`` sends until closed."""

    def __init__(self, grant: Grant, token: str, *, offline_on_disconnect: bool,
                 client_version: str | None = None, port: str | None = None) -> None:
        assert grant.worker_sid is not None
        self.grant = grant
        self.token = token
        self.key = (grant.workspace_sid, grant.worker_sid)
        self.offline_on_disconnect = offline_on_disconnect
        self.client_version = client_version
        self._frames: deque[tuple[float, str]] = deque()  # (when it may leave, frame)
        self._wake = threading.Condition()
        self._closing: str | None = None
        self._close_code = 1000
        self.port = port  # the listening port of the server it came through
        self.ended = threading.Event()  # set once the socket is closed and the session forgotten
        self.sent: int = 0

    def push(self, text: str) -> None:
        with self._wake:
            self._frames.append((time.monotonic() + EVENT_DELAY_SECONDS, text))
            self._wake.notify()

    def close(self, reason: str = "closed", code: int = 1000) -> None:
        with self._wake:
            self._closing = reason
            self._close_code = code
            self._wake.notify()

    def init_frame(self) -> str:
        return json.dumps({"event_type": "init", "payload": {
            "channel_id": self.grant.worker_sid, "account_sid": self.grant.account_sid,
            "workspace_sid": self.grant.workspace_sid, "token_lifetime": self.grant.lifetime_ms()}})

    def run(self, ws) -> None:
        """Send ``init``, then frames and heartbeats, until the client or the server closes.

        An open socket stays open when its token expires: the SDK's ``updateToken()`` sends
        nothing to the server, and only new upgrades and requests present the token again."""
        ws.send(self.init_frame())
        last = time.monotonic()
        while True:
            with self._wake:
                now = time.monotonic()
                if self._closing is None and (not self._frames or self._frames[0][0] > now):
                    due = self._frames[0][0] - now if self._frames else POLL_SECONDS
                    self._wake.wait(min(POLL_SECONDS, max(0.0, due)))
                    now = time.monotonic()
                frames = []
                while self._frames and (self._frames[0][0] <= now or self._closing is not None):
                    frames.append(self._frames.popleft()[1])
                closing, code = self._closing, self._close_code
            if not ws.connected:
                return
            for text in frames:
                ws.send(text)
                self.sent += 1
            if closing is not None:
                ws.close(reason=code, message=closing)
                return
            if frames:
                last = now
            elif now - last >= HEARTBEAT_SECONDS:
                ws.send(HEARTBEAT_FRAME)
                last = now
