"""The Event Bridge of the TaskRouter Worker SDK (npm ``twilio-taskrouter``), on the REST API's port.

The SDK never calls the REST host: it opens a websocket (``GET /v1/wschannels?token=…``) that
pushes reservation, task and worker events, and proxies every REST call as ``POST /v1/wschannels``.
Point it here with its ``ebServer`` / ``wsServer`` options. An integration layer: tokens
(``tokens``), sessions and the event feed (``session``, ``hub``), the proxied calls (``routes``) and
the SDK's payload shapes (``shapes``); every rule stays in the engine.
"""

from __future__ import annotations

import json
import logging
import time

import simple_websocket
from flask import Flask, Response, current_app, request

from .. import errors
from . import routes, tokens
from .hub import Hub
from .session import Session

log = logging.getLogger("emulator.bridge")
PATH = "/v1/wschannels"
JSON = "application/json; charset=utf-8"


def _answer(body: dict, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type=JSON)


def _error(exc: errors.TwilioError) -> Response:
    # The SDK shows ``message``; ``code`` and ``status`` are there for other readers.
    return _answer({"message": exc.message, "code": exc.code, "status": exc.status}, exc.status)


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("false", "0", "no")


class EventBridge:
    """The bridge of one emulator app: its sessions (``hub``) and the credentials that verify tokens."""

    def __init__(self, backend, credentials, webhooks=None) -> None:
        self.backend = backend
        self.credentials = credentials
        self.webhooks = webhooks
        self.hub = Hub()
        backend.subscribe(self.hub.on_event)
        backend.on_reset(self._on_reset)

    def _on_reset(self, account_sid: str | None) -> None:
        """A reset took the workspaces away (an account's, or all): their sessions close."""
        self.hub.close_where(lambda s: account_sid is not None and s.grant.account_sid != account_sid,
                             reason="emulator reset")

    def server_stopping(self, port: int, wait: float = 5.0) -> None:
        """A server is stopping: the sessions it serves close with 1001 (going away), and it waits
        (at most ``wait`` seconds) for their close frames to be written before it drops connections."""
        closing = self.hub.close_where(lambda s: s.port != str(port), reason="server stopping", code=1001)
        deadline = time.monotonic() + wait
        for session in closing:
            session.ended.wait(max(0.0, deadline - time.monotonic()))

    # --- tokens -------------------------------------------------------------------------------
    def grant(self, token) -> tokens.Grant:
        grant = tokens.verify(token, self.credentials.api_keys)
        with self.backend.lock:
            routes.check_grant_targets(self.backend, grant)
        return grant

    # --- POST ---------------------------------------------------------------------------------
    def handle_post(self) -> Response:
        try:
            url, method, values, token = routes.parse_body(request.get_data())
            grant = self.grant(token)
            endpoint, path = routes.match(url, method)
            routes.authorize(grant, endpoint, method, path, url)
            with self.backend.lock:
                payload = routes.call_operation(self.backend, grant, endpoint, path, values, url, method,
                                                request.headers)
        except errors.TwilioError as exc:
            return _error(exc)
        finally:
            if self.webhooks is not None:
                self.webhooks.flush()
        return _answer({"payload": payload})

    # --- websocket ----------------------------------------------------------------------------
    def handle_upgrade(self) -> Response:
        token = request.args.get("token") or ""
        try:
            grant = self.grant(token)
            if grant.worker_sid is None:
                raise errors.Forbidden(errors.TOKEN_NO_WORKER)
        except errors.TwilioError as exc:
            return _error(exc)
        if "werkzeug.socket" not in request.environ:
            return _error(errors.NotImplementedByEmulator(errors.BRIDGE_NEEDS_SERVER))
        # This thread serves the socket from now on; nothing it causes waits for a reply.
        self.hub.release()
        session = Session(grant, token, offline_on_disconnect=_flag(request.args.get("setWorkerOfflineIfDisconnected"), True),
                          client_version=request.args.get("clientVersion"), port=request.environ.get("SERVER_PORT"))
        try:
            ws = simple_websocket.Server(request.environ)
        except Exception as exc:  # a handshake the client broke off
            log.info("websocket handshake failed: %s", exc)
            return _error(errors.InvalidParameter("websocket handshake failed"))
        self.hub.add(session, close_others=_flag(request.args.get("closeExistingSessions"), False))
        try:
            session.run(ws)
        except simple_websocket.ConnectionClosed:
            pass
        except Exception:  # never let one socket's failure reach the server loop
            log.exception("websocket session of %s failed", grant.worker_sid)
        finally:
            if self.hub.remove(session) and session.offline_on_disconnect:
                self._go_offline(grant)
            if ws.connected:
                ws.close()
            session.ended.set()
        return _SocketTakenOver()

    def _go_offline(self, grant: tokens.Grant) -> None:
        """The worker's last session closed: move it to the offline activity, through the same
        engine operation as REST's UpdateWorker. [I] Offline is the workspace's activity named
        "Offline", else its default activity (the SDK documents setWorkerOfflineIfDisconnected
        generically, so every workspace gets it)."""
        try:
            with self.backend.lock:
                workspace = self.backend.workspaces(grant.account_sid).get(grant.workspace_sid)
                if workspace is None or grant.worker_sid not in workspace.workers:
                    return
                offline = next((a.sid for a in workspace.activities.values() if a.friendly_name == "Offline"),
                               workspace.default_activity_sid)
                if offline and workspace.workers[grant.worker_sid].activity_sid != offline:
                    workspace.update_worker(grant.worker_sid, activity_sid=offline)
        except errors.TwilioError as exc:
            log.info("could not set %s offline: %s", grant.worker_sid, exc.message)
        finally:
            if self.webhooks is not None:
                self.webhooks.flush()


class _SocketTakenOver(Response):
    """What the view returns once the websocket is closed: the connection is not HTTP any more,
    so the server must write nothing and drop it (werkzeug drops on ConnectionError, as
    flask-sock does)."""

    def __call__(self, environ, start_response):
        raise ConnectionError("websocket closed")


def _bridge() -> EventBridge:
    return current_app.config["event_bridge"]


def _websocket_view() -> Response:
    return _bridge().handle_upgrade()


def _post_view() -> Response:
    if request.method == "POST":
        return _bridge().handle_post()
    return _error(errors.InvalidParameter("Expected a websocket upgrade (Upgrade: websocket) or a POST"))


def _hold_events() -> None:
    _bridge().hub.hold()


def _release_events(response: Response) -> Response:
    hub = _bridge().hub
    if "werkzeug.socket" in request.environ:
        response.call_on_close(hub.release)  # once the server has written the reply
    else:
        hub.release()  # in-process (mock(), client()): no socket, the reply is already here
    return response


def add_routes(app: Flask) -> None:
    """The bridge's routes (shared by every emulator app: the views find their bridge in the app's config)."""
    # werkzeug routes websocket upgrades only to rules marked ``websocket=True``
    app.add_url_rule(PATH, endpoint="event_bridge_websocket", view_func=_websocket_view, methods=["GET"],
                     websocket=True)
    app.add_url_rule(PATH, endpoint="event_bridge", view_func=_post_view, methods=["GET", "POST"])


def attach(app: Flask, backend, credentials, webhooks=None) -> EventBridge:
    """Give ``app`` its bridge (sessions, token checks, the backend's event feed), and hold every
    request's events until its reply is written."""
    bridge = EventBridge(backend, credentials, webhooks)
    app.config["event_bridge"] = bridge
    app.config.setdefault("server_stop_hooks", []).append(bridge.server_stopping)
    app.before_request(_hold_events)
    app.after_request(_release_events)
    return bridge
