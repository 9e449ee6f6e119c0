"""``TaskRouterEmulator``: the Python face of the emulator, for any test runner or script.

One object holds a backend (all TaskRouter state), its virtual clock and the WSGI app serving
``/v1`` and ``/_emulator``, and offers the three ways to reach it: in-process interception of
every twilio client (``mock()``), a client already wired to it (``client()``), and a real HTTP
server in a background thread (``serve()``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import snapshot
from .apptime import AppTime
from .blueprints import LoadResult, load_blueprint
from .clock import MANUAL, MODES, REAL, Clock, parse_instant, utc
from .engine.backend import Backend
from .faults import Faults
from .http import Credentials, create_app
from .mock import EmulatorMock, InProcessAdapter, skip_environment
from .requestlog import RequestLog
from .server import DEFAULT_HOST, Server
from .webhooks import Inbox, WebhookRecord, Webhooks
from .webhooks.assignment import ANSWER_TIMEOUT

if TYPE_CHECKING:
    import responses
    from twilio.rest import Client

DEFAULT_ACCOUNT_SID = "AC" + "a" * 32
DEFAULT_AUTH_TOKEN = "token"
_KEEP = object()


class TaskRouterEmulator:
    """A local TaskRouter: state, virtual clock and app, reachable in-process or over HTTP.

    ``clock``: ``"manual"`` (time moves only through ``clock.advance`` / ``clock.set``; the default)
    or ``"real"`` (time follows the wall clock and timers fire by themselves).
    ``start``: the virtual instant to start at (ISO 8601 text or a datetime; naive means UTC);
    by default the current wall-clock second.
    ``seed``: seed of the SID source; with a seed, SIDs and timestamps are identical on every run
    of the same calls, in-process and over HTTP alike.
    ``strict_schema``: validate every response body against the official OpenAPI schema and answer
    an emulator bug as a 500 instead of sending a body the real service never would.
    ``auth_token`` / ``credentials``: strict authentication. ``auth_token`` is the one token every
    account must use; ``credentials`` is a ``Credentials`` or a mapping ``{AccountSid: token}``.
    Without either, any well-formed AccountSid is accepted with any token.
    ``public_url``: base URL for ``url``, ``links`` and paging URLs (default: the host each request
    was sent to). ``account_sid``: the account ``client()`` and ``load()`` use by default.
    ``webhooks``: how event and assignment callbacks are delivered when no route says otherwise:
    ``"capture"`` (the default: recorded in ``inbox`` only, so a test needs no receiver) or
    ``"http"`` (real POSTs, on a delivery thread). Routes per URL prefix: ``emu.webhooks``.
    ``callback_limits``: how many callbacks are delivered at once and queued (the server's
    ``--callback-workers`` and ``--callback-backlog`` options), as ``{"workers", "per_destination",
    "backlog", "destination_backlog"}``.
    ``inbox_retention``: bound the inbox as ``{"max_records", "max_age"}`` (virtual seconds); by
    default every record is kept.
    ``assignment_timeout``: how many real seconds an assignment callback's receiver has to answer
    before the fallback rules apply (TaskRouter's own limit, 5, by default).
    ``wall``: the real-time source the ``"real"`` clock follows, a function returning seconds
    (``time.time`` by default); a test can hand one that moves only when it says.
    ``guard``: while ``mock()`` is active, requests to Twilio hosts other than TaskRouter
    (``api.twilio.com``, ...) raise ``emulator.mock.RealTwilioBlocked`` (the default); ``False``
    lets them go on to your own ``responses`` mock or the network.

    Usable as a context manager: leaving it stops every server started with ``serve()`` and the
    real-mode clock thread.
    """

    def __init__(self, clock: str = MANUAL, start: str | datetime | None = None, seed: int | str | None = None,
                 strict_schema: bool = False, auth_token: str | None = None,
                 credentials: Credentials | Mapping[str, str] | None = None, public_url: str | None = None,
                 account_sid: str = DEFAULT_ACCOUNT_SID, webhooks: str = "capture", guard: bool = True,
                 callback_limits: Mapping[str, int] | None = None,
                 inbox_retention: Mapping[str, float] | None = None,
                 assignment_timeout: float = ANSWER_TIMEOUT, wall: Callable[[], float] = time.time) -> None:
        if clock not in MODES:
            raise ValueError(f"clock must be one of {MODES}, not {clock!r}")
        self.guard = guard
        self.seed = seed
        self.account_sid = account_sid
        self.credentials = _credentials(credentials, auth_token)
        first = _instant(start) if start is not None else None
        self.backend = Backend(clock=Clock(clock, start=first, wall=wall), seed=seed)
        if first is not None:
            self.backend.origin.start = first  # reset() returns there, whatever the clock's mode
        self.webhooks = Webhooks(self.backend, default_delivery=webhooks, assignment_timeout=assignment_timeout,
                                 limits=dict(callback_limits) if callback_limits else None,
                                 retention=dict(inbox_retention) if inbox_retention else None)
        """The outbound callbacks: ``route(prefix, "capture" | "http")``, ``respond(prefix, handler)``,
        ``route_wsgi(prefix, app)``, ``set_default_delivery(...)``, ``wait_idle()``, ``inbox``."""
        self.app = create_app(self.backend, credentials=self.credentials, public_url=public_url,
                              strict_schema=strict_schema, webhooks=self.webhooks)
        self._servers: list[EmulatorServer] = []
        self._bridges: list[AppTime] = []

    @property
    def strict_schema(self) -> bool:
        """Whether every response is validated against the official schema (settable at any time)."""
        return bool(self.app.config["strict_schema"])

    @strict_schema.setter
    def strict_schema(self, value: bool) -> None:
        self.app.config["strict_schema"] = bool(value)

    # --- time ---------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The virtual clock: ``now()``, ``advance(seconds)``, ``set(instant)``, ``set_mode(mode)``,
        ``pending()``. ``advance`` and ``set`` fire every due timer in time order, and return once
        the callbacks those timers caused are delivered and their answers applied."""
        return self.backend.clock

    # --- callbacks ----------------------------------------------------------------------------
    @property
    def inbox(self) -> Inbox:
        """Every callback sent (or tried), oldest first: ``records(kind=, event_type=,
        workspace_sid=, task_sid=, after=)``, ``events()``, ``event_types()``, ``clear()``,
        ``wait_for(predicate, timeout)``; each record has ``kind``, ``url``, ``params``,
        ``headers`` (signed), ``timestamp``, ``attempts``, ``response`` or ``error``."""
        return self.webhooks.inbox

    @property
    def requests(self) -> RequestLog:
        """Every API request this emulator answered, oldest first, the last 1000 kept:
        ``records(method=, path=, status=, account_sid=, after=, errors_only=)``, ``clear()``,
        ``emu.requests[-1]``; each record has ``method``, ``path``, ``parameters``,
        ``account_sid``, ``status``, ``error_code``, ``error_message``, ``timestamp`` (virtual),
        ``duration_ms``, ``fault``; ``line()`` is its log line. Requests the guard stopped are
        there too (``blocked``)."""
        return self.app.config["request_log"]

    @property
    def faults(self) -> Faults:
        """Fault injection: ``faults.api(429, path="/v1/Workspaces/*/Tasks", times=2)`` (a Twilio
        error, or ``latency=`` seconds, for the next matching requests), ``faults.callback(url_prefix,
        status=, body=, timeout=)`` (callbacks that fail, time out or get that answer),
        ``list()``, ``clear()``. Every fault used shows in ``requests`` and ``inbox``."""
        return self.app.config["faults"]

    def app_time(self, library: str | None = None) -> AppTime:
        """Keep the application's now (``datetime.now()``, ``time.time()``, ...) equal to the
        virtual clock while the returned context manager is active: ``with emu.app_time():``.
        Uses time-machine when installed, else freezegun (``library="time_machine"`` or
        ``"freezegun"`` chooses); manual clock only. ``emulator.apptime`` says what it cannot do."""
        bridge = AppTime(self.clock, library)
        self._bridges.append(bridge)
        return bridge

    def on_assignment(self, handler: "Callable[[WebhookRecord], dict | None] | None") -> None:
        """Answer every assignment callback with ``handler(record)``: a dict is the JSON answer
        (``{"instruction": "accept"}``, ``{"instruction": "reject", "activity_sid": ...}``, ...),
        None leaves the reservation pending; ``on_assignment(None)`` removes it. Only
        reservations whose workflow has an ``AssignmentCallbackUrl`` get a callback."""
        self.webhooks.on_assignment(handler)

    # --- state --------------------------------------------------------------------------------
    def reset(self, account_sid: str | None = None, *, seed: int | str | None = _KEEP,  # type: ignore[assignment]
              start: str | datetime | None = _KEEP, clock: str = _KEEP) -> None:  # type: ignore[assignment]
        """Drop state.

        Without ``account_sid``: every account's workspaces go, every timer is cancelled, the clock
        goes back to the start instant in its mode, the SID source is re-seeded, the inbox is
        emptied and callback routes and handlers are dropped, so the emulator behaves as if just
        constructed. ``seed``, ``start`` and ``clock`` replace the constructor's values from now on
        (``start=None``: the current wall-clock second).
        With ``account_sid``: only that account's workspaces and callbacks go; time and SIDs carry on.
        """
        if account_sid is not None:
            self.backend.reset(account_sid)
            return
        if clock is not _KEEP and clock not in MODES:
            raise ValueError(f"clock must be one of {MODES}, not {clock!r}")
        with self.backend.lock:
            origin = self.backend.origin
            if seed is not _KEEP:
                self.seed = origin.seed = seed
            if clock is not _KEEP:
                origin.mode = clock
            if start is not _KEEP:
                origin.start = _instant(start) if start is not None else None
            self.backend.reset()

    # --- checkpoints --------------------------------------------------------------------------
    def snapshot(self) -> dict:
        """The whole state as a JSON-ready dict: every account's workspaces and everything in
        them, the clock's instant and pending timers, the SID source's position and the inbox.
        ``json.dumps`` it to keep it; ``restore`` it to come back to this instant."""
        return snapshot.take(self.backend, self.webhooks)

    def restore(self, document: Mapping[str, Any]) -> None:
        """Return to the instant ``document`` (from ``snapshot()`` or ``POST /_emulator/snapshot``)
        was taken: state, clock, timers, SIDs and inbox. A document that is not a snapshot raises
        ``emulator.snapshot.SnapshotError`` and changes nothing."""
        snapshot.restore(self.backend, document, self.webhooks)

    def load(self, blueprint: str | Path | Mapping[str, Any], account_sid: str | None = None) -> LoadResult:
        """Create the workspace a blueprint describes, through the engine's normal validation.

        ``blueprint``: the short name of a bundled blueprint (``"helpdesk"``, ``"contact_centre"``,
        ``"chat_voice_team"``; see ``emulator.blueprints.available()``), a path to a JSON file, or
        the blueprint itself as a dict. Returns the SIDs by friendly name (``result.workspace_sid``,
        ``result.queues["Sales"]``, ``result.workers["Alice"]``, ...). An invalid blueprint raises
        ``BlueprintError`` naming the bad entry and leaves no trace.
        """
        return load_blueprint(self.backend, account_sid or self.account_sid, blueprint)

    # --- reaching it --------------------------------------------------------------------------
    def mock(self, responses_mock: "responses.RequestsMock | None" = None, *, guard: bool | None = None) -> EmulatorMock:
        """Intercept TaskRouter calls in-process, as a context manager or a decorator.

        While active, every ``requests``-based call to ``https://taskrouter.twilio.com`` or a
        region/edge variant of it, from any ``twilio.rest.Client`` in the process, reaches this
        emulator with no socket; twilio's ``AsyncTwilioHttpClient`` is routed in-process too.
        Other traffic goes on unchanged. Give ``responses_mock`` (an active
        ``responses.RequestsMock``) to add the emulator's routes to it instead of starting a
        separate interception. ``guard`` (default: the emulator's ``guard``) stops requests to
        other Twilio hosts with ``RealTwilioBlocked``; ``False`` lets them through.
        """
        return EmulatorMock(self.app, responses_mock, guard=self.guard if guard is None else guard)

    def client(self, account_sid: str | None = None, auth_token: str | None = None, **client_kwargs) -> "Client":
        """A ``twilio.rest.Client`` wired to this emulator in-process (no ``mock()`` needed).

        ``account_sid`` defaults to ``self.account_sid``; ``auth_token`` to the token the
        credentials expect for that account. Other keyword arguments go to ``Client``
        (``region``, ``edge``, ...): every TaskRouter host stays in-process whatever they are.
        """
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        account_sid = account_sid or self.account_sid
        http_client = TwilioHttpClient()
        public_url = self.app.config.get("public_url")
        # paging URLs point at public_url when it is set, so they must stay in-process too
        also = (public_url.rstrip("/"),) if public_url else ()
        http_client.session.mount("https://taskrouter.", InProcessAdapter(self.app, also))
        if public_url:
            http_client.session.mount(public_url.rstrip("/"), InProcessAdapter(self.app, also))
        skip_environment(http_client.session, also)
        return Client(account_sid, auth_token or self.token_for(account_sid), http_client=http_client,
                      **client_kwargs)

    def set_credentials(self, credentials: "Credentials | Mapping[str, str] | None" = None,
                        auth_token: str | None = None) -> None:
        """Replace who may call, and so the tokens callbacks are signed with, without a new app:
        the same arguments as the constructor's (both None: any token is accepted again)."""
        fresh = _credentials(credentials, auth_token)
        current = self.credentials
        current.auth_token, current.tokens, current.api_keys = fresh.auth_token, fresh.tokens, fresh.api_keys
        current.last_tokens.clear()

    def token_for(self, account_sid: str) -> str:
        """The auth token this emulator accepts for ``account_sid`` (any token when auth is not strict)."""
        token = self.credentials.tokens.get(account_sid, self.credentials.auth_token)
        return token if token is not None else DEFAULT_AUTH_TOKEN

    # --- Worker SDK --------------------------------------------------------------------------
    def add_api_key(self, sid: str | None = None, secret: str | None = None,
                    account_sid: str | None = None) -> tuple[str, str]:
        """Register an API key (``SK…`` and its secret) of ``account_sid`` (default
        ``self.account_sid``) and return ``(sid, secret)``; new ones are drawn when not given.
        Access Tokens signed with it are accepted by the Event Bridge, and the key authenticates
        REST calls as its account (like ``--credentials`` ``api_keys``)."""
        # Both come from the seedable SID source, so a seeded emulator mints the same keys and
        # tokens every run. The secret guards only this local emulator, so a predictable one under
        # a seed costs nothing; unseeded, the source is seeded from the OS. Pass ``secret`` to use
        # one from ``secrets`` (or the console) instead.
        with self.backend.lock:
            sid = sid or self.backend.sids.sid("SK")
            secret = secret or self.backend.sids.secret()
        self.credentials.api_keys[sid] = (secret, account_sid or self.account_sid)
        return sid, secret

    def worker_token(self, worker_sid: str | None, workspace_sid: str | None = None, *, ttl: int = 3600,
                     role: str = "worker", identity: str | None = None, account_sid: str | None = None,
                     api_key: str | None = None) -> str:
        """An Access Token for the Worker SDK, as twilio-python's ``AccessToken`` +
        ``TaskRouterGrant`` mint it: HS256, signed with an API key of the account (the first one
        registered for it, ``api_key`` to choose, or a new one), ``ttl`` seconds of the machine's
        clock. ``workspace_sid`` defaults to the worker's; ``role`` is ``worker``, ``supervisor``
        or ``admin`` (an admin token names no worker)."""
        from .bridge import tokens

        account_sid = account_sid or self.account_sid
        if workspace_sid is None:
            if worker_sid is None:
                raise ValueError("worker_token needs a workspace_sid when it names no worker")
            with self.backend.lock:
                workspace_sid = next((ws.sid for ws in self.backend.workspaces(account_sid).values()
                                      if worker_sid in ws.workers), None)
            if workspace_sid is None:
                raise ValueError(f"no workspace of account {account_sid} has worker {worker_sid}")
        if api_key is None:
            api_key = next((sid for sid, (_, owner) in self.credentials.api_keys.items() if owner == account_sid),
                           None) or self.add_api_key(account_sid=account_sid)[0]
        secret, owner = self.credentials.api_keys[api_key]
        return tokens.mint(owner, api_key, secret, workspace_sid, worker_sid, role=role, ttl=ttl, identity=identity)

    def serve(self, port: int = 0, host: str = DEFAULT_HOST, *, log_requests: bool = False) -> "EmulatorServer":
        """Start a real HTTP server for this emulator in a background thread and return it.

        ``port=0`` picks a free port; the server's ``url`` says which. Stop it with ``.stop()``
        (or use it as a context manager); ``close()`` stops every server still running.
        ``log_requests`` writes an access-log line per request (werkzeug's logger).
        Open ``server.url + "/"`` in a browser for the dashboard: the state, the inbox and the clock.
        """
        server = EmulatorServer(self, host, port, log_requests=log_requests)
        server.start()
        self._servers.append(server)
        return server

    def close(self) -> None:
        """Stop every server started with ``serve()``, the delivery thread and the real-mode clock thread."""
        while self._servers:
            self._servers.pop().stop()
        while self._bridges:
            self._bridges.pop().stop()
        self.webhooks.close()
        self.backend.clock.stop()

    def __enter__(self) -> "TaskRouterEmulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<TaskRouterEmulator clock={self.clock.mode} now={self.clock.now().isoformat()} "
                f"seed={self.seed!r}>")


class EmulatorServer(Server):
    """A running HTTP server for a ``TaskRouterEmulator``: ``url``, ``stop()``, and ``client()``
    for a twilio Client pointed at it."""

    def __init__(self, emulator: TaskRouterEmulator, host: str = DEFAULT_HOST, port: int = 0, *,
                 log_requests: bool = False) -> None:
        super().__init__(emulator.app, host, port, log_requests=log_requests)
        self.emulator = emulator

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        super().stop()
        if self in self.emulator._servers:
            self.emulator._servers.remove(self)

    def client(self, account_sid: str | None = None, auth_token: str | None = None) -> "Client":
        """A ``twilio.rest.Client`` whose TaskRouter calls go to this server over HTTP."""
        from twilio.rest import Client

        account_sid = account_sid or self.emulator.account_sid
        client = Client(account_sid, auth_token or self.emulator.token_for(account_sid))
        # region/edge (or TWILIO_REGION / TWILIO_EDGE) would rewrite the loopback host.
        client.region = client.edge = None
        client.taskrouter.base_url = self.url
        return client


def _instant(value: str | datetime) -> datetime:
    return parse_instant(value) if isinstance(value, str) else utc(value)


def _credentials(credentials, auth_token: str | None) -> Credentials:
    if credentials is None:
        return Credentials(auth_token=auth_token)
    if isinstance(credentials, Credentials):
        if auth_token is not None:
            credentials.auth_token = auth_token
        return credentials
    if isinstance(credentials, Mapping):
        return Credentials(auth_token=auth_token, tokens=dict(credentials))
    raise TypeError("credentials must be a Credentials or a mapping {AccountSid: token}")


__all__ = ["DEFAULT_ACCOUNT_SID", "EmulatorServer", "TaskRouterEmulator", "REAL", "MANUAL"]
