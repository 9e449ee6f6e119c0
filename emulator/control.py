"""The ``/_emulator`` control API: health, reset, the virtual clock and the webhooks inbox, for
server mode and non-Python users. It never collides with ``/v1``.

Who may use it (one check, ``guard_control_api``, in front of every path under ``/_emulator``,
so anything served there later is covered too):

- Lenient mode (no ``auth_token``, no per-account tokens, no admin token): open to whoever can
  reach the port, as the in-process test fixture expects.
- Strict mode: credentials are required. The admin token set at start (``Authorization: Bearer
  <token>``, or HTTP Basic with user ``admin``) acts on every account. An account's own
  credentials (the same HTTP Basic pair as for ``/v1``) act on that account only: its inbox, its
  reset. What acts on every account at once (moving the shared clock, snapshot and restore of
  the whole state, a full reset) needs the admin token. ``/_emulator/health`` stays open.
- Served over a socket, a request whose ``Host`` is not the server's own (the loopback names,
  the listening address, the public URL's host, ``--allowed-host``) is refused in either mode,
  so a web page cannot reach the control API through DNS rebinding.
- No CORS headers on any of it.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import re
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, g, request

from . import __version__, dashboard, errors, faults, requestlog, snapshot
from .clock import MODES, parse_instant
from .engine.backend import Backend
from .journal import ALL, REPLAY_KEY
from .sids import is_sid
from .webhooks.inbox import KINDS


def _instant(name: str, raw: str):
    try:
        return parse_instant(raw)
    except (ValueError, OverflowError):
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name=name, reason=f"'{raw}' is not an ISO 8601 date-time such as 2026-01-01T00:00:00Z")) from None


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def clock_state(backend: Backend) -> dict:
    now = backend.clock.now()
    return {"now": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "now_ms": backend.clock.now_ms(), "mode": backend.clock.mode}


CONTROL_PREFIX = "/_emulator"
ADMIN_USER = "admin"
ALL_ACCOUNTS = None  # the scope of the admin token and of the open (lenient) control API
OPEN_PATHS = frozenset({"/_emulator/health"})


def is_control_path(path: str) -> bool:
    """Whether ``path`` belongs to the control API (and whatever else is served under it)."""
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


def guard_control_api(app: Flask, credentials) -> None:
    """Check every request under ``/_emulator`` before its view runs: its ``Host`` (when served
    over a socket) and its credentials (strict mode). The scope granted is ``control_scope()``."""
    @app.before_request
    def check_control_access():
        if not is_control_path(request.path):
            return None
        replayed = request.environ.get(REPLAY_KEY)
        if replayed is not None:  # a journal replay acts as the caller it records
            g.control_scope = ALL_ACCOUNTS if replayed == ALL else replayed
            return None
        own_hosts = request.environ.get("emulator.server_hosts")
        if own_hosts is not None:
            host = _host_name(request.host)
            if host not in own_hosts:
                raise errors.Forbidden(errors.CONTROL_FOREIGN_HOST.format(host=request.host[:100]))
        g.control_scope = ALL_ACCOUNTS
        if request.path in OPEN_PATHS or not _protected(credentials):
            return None
        g.control_scope = _authenticate(credentials, request.headers.get("Authorization"))
        return None


def control_scope() -> str | None:
    """The account the caller of a control endpoint may act on, or None for every account."""
    return g.get("control_scope", ALL_ACCOUNTS)


def require_all_accounts(action: str) -> None:
    """Refuse unless the caller may act on every account (the admin token, or lenient mode)."""
    if control_scope() is not ALL_ACCOUNTS:
        raise errors.Forbidden(errors.CONTROL_ADMIN_ONLY.format(action=action))


def _protected(credentials) -> bool:
    return credentials.strict or credentials.admin_token is not None


def _authenticate(credentials, authorization: str | None) -> str | None:
    admin = credentials.admin_token
    if authorization and admin is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and _same(value.strip(), admin):
            return ALL_ACCOUNTS
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except ValueError:
                user = password = ""
            if user == ADMIN_USER:
                if _same(password, admin):
                    return ALL_ACCOUNTS
                raise errors.Unauthorized(errors.AUTH_INVALID)
    if not credentials.strict:
        # lenient accounts are not verified, so only the admin token opens the control API
        raise errors.Unauthorized(errors.AUTH_INVALID if authorization else errors.AUTH_REQUIRED)
    return credentials.account_for(authorization)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


def _host_name(host: str) -> str:
    """``Host`` without its port, lower case (``[::1]:8787`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _scoped_account(account_sid: str | None) -> str | None:
    """The account a request names, checked against the caller's scope; an account caller that
    names none gets its own."""
    scope = control_scope()
    if scope is ALL_ACCOUNTS:
        return account_sid
    if account_sid is not None and account_sid != scope:
        raise errors.Forbidden(errors.CONTROL_OTHER_ACCOUNT.format(own=scope, other=account_sid))
    return scope


@contextlib.contextmanager
def _change(backend: Backend):
    """A control action that changes state: applied under the engine lock and, on a server with
    a journal, recorded in the same hold of the lock and made durable before the answer."""
    journal = current_app.config.get("journal")
    with backend.lock:
        if journal is not None:
            journal.catch_up()
        yield
        seq = journal.record_request(request, control_scope()) if journal is not None else None
    if journal is not None and seq is not None:
        journal.commit(seq)


def _target() -> tuple[Backend, Any]:
    """The backend and webhooks of the app serving this request (its ``config``)."""
    config = current_app.config
    return config["backend"], config["webhooks"]


WEBHOOKS_PAGE_SIZE = 1000  # records per page of GET /_emulator/webhooks, at most and by default


def control_blueprint() -> Blueprint:
    """The control routes of every emulator app: each request acts on its own app's backend and
    webhooks, so the process builds the blueprint once and every app shares it."""
    bp = Blueprint("emulator_control", __name__, url_prefix="/_emulator")

    @bp.get("/health")
    def health():
        return _json({"status": "ok", "version": __version__})

    @bp.post("/reset")
    def reset():
        backend = _target()[0]
        account_sid = request.values.get("AccountSid")
        if account_sid is not None and not is_sid(account_sid, "AC"):
            raise errors.InvalidParameter(errors.INVALID_SID.format(value=account_sid, name="AccountSid"))
        account_sid = _scoped_account(account_sid)
        with _change(backend):
            backend.reset(account_sid)  # the one reset: the emulator's reset hooks empty the inbox
        return _json({"status": "ok", "reset": account_sid or "all"})

    @bp.get("/clock")
    def get_clock():
        backend = _target()[0]
        return _json(clock_state(backend))

    @bp.post("/clock/advance")
    def advance_clock():
        backend = _target()[0]
        require_all_accounts("Moving the clock")
        raw = request.values.get("Seconds")
        if raw is None:
            raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name="Seconds"))
        try:
            seconds = float(raw)
        except ValueError:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Seconds", reason="not a number")) from None
        if not 0 <= seconds < 10 ** 10:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Seconds", reason="must be a non-negative number of seconds"))
        try:
            with _change(backend):
                backend.clock.advance(seconds)
        except (OverflowError, ValueError):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Seconds", reason="moves the clock past the last representable instant")) from None
        return _json(clock_state(backend))

    @bp.post("/clock")
    def set_clock():
        backend = _target()[0]
        require_all_accounts("Setting the clock")
        now, mode = request.values.get("Now"), request.values.get("Mode")
        if mode is not None and mode not in MODES:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Mode", reason="must be manual or real"))
        instant = _instant("Now", now) if now is not None else None
        if instant is not None and instant < backend.clock.now():
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Now", reason="the clock cannot go backwards"))
        with _change(backend):
            if instant is not None:
                try:
                    backend.clock.set(instant)
                except (OverflowError, ValueError):
                    raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                        name="Now", reason="is past the last representable instant")) from None
            # a replay runs on a manual clock and takes the recorded mode at its end
            if mode is not None and REPLAY_KEY not in request.environ:
                backend.clock.set_mode(mode)
        return _json(clock_state(backend))

    @bp.post("/snapshot")
    def take_snapshot():
        backend, webhooks = _target()
        require_all_accounts("A snapshot")
        # The document is the whole state (clock, timers and inbox included); POST it back to
        # /_emulator/restore to return to this instant.
        # Deliveries in progress are taken as they stand (not finished), rather than waiting for
        # a receiver that may never answer.
        with backend.lock, (webhooks.as_is() if webhooks is not None else contextlib.nullcontext()):
            return _json(snapshot.take(backend, webhooks))

    @bp.post("/restore")
    def restore_snapshot():
        backend, webhooks = _target()
        require_all_accounts("A restore")
        try:
            document = request.get_json(silent=True)
        except RecursionError:  # nested deeper than the JSON parser goes
            document = None
        if document is None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="body", reason="must be a snapshot document sent as application/json"))
        journal = current_app.config.get("journal")
        with backend.lock:
            try:
                snapshot.restore(backend, document, webhooks)
            except snapshot.SnapshotError as exc:
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="body", reason=str(exc))) from None
            if journal is not None:
                journal.rebase()  # the restored state becomes the journal's base before anything else
        return _json(clock_state(backend))

    @bp.get("/webhooks")
    def list_webhooks():
        webhooks = _target()[1]
        inbox = _inbox(webhooks)
        kind = request.args.get("Kind")
        if kind is not None and kind not in KINDS:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Kind", reason="must be one of " + ", ".join(KINDS)))
        after = request.args.get("After")
        if after is not None:
            if not re.fullmatch(r"[0-9]+", after.strip()):  # ASCII digits: str.isdigit() takes "²"
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="After", reason="must be the id of a webhook record (a non-negative integer)"))
            after = int(after)
        raw_size = request.args.get("PageSize")
        page_size = WEBHOOKS_PAGE_SIZE
        if raw_size is not None:
            if not re.fullmatch(r"[0-9]+", raw_size.strip()) or not 1 <= int(raw_size) <= WEBHOOKS_PAGE_SIZE:
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="PageSize", reason=f"must be a whole number from 1 to {WEBHOOKS_PAGE_SIZE}"))
            page_size = int(raw_size)
        scope = control_scope()
        records, more = inbox.page(page_size, after, kind=kind, event_type=request.args.get("EventType"),
                                   workspace_sid=request.args.get("WorkspaceSid"),
                                   task_sid=request.args.get("TaskSid"), account_sid=scope)
        # The next page continues after the last record of this one, with the same filters.
        next_url = None
        if more:
            query = [(k, v) for k, v in request.args.items(multi=True) if k not in ("After", "PageSize")]
            query += [("After", str(records[-1].id)), ("PageSize", str(page_size))]
            next_url = f"{request.base_url}?{urlencode(query)}"
        return _json({"webhooks": [r.to_dict() for r in records],
                      "meta": {"key": "webhooks", "page_size": page_size, "next_page_url": next_url}})

    # the dashboard's data routes: on this blueprint, so whatever guards the control API guards them
    dashboard.register(bp, _target, clock_state, control_scope)
    # the request log and fault injection, guarded as the rest of the control API
    faults.register(bp, control_scope)
    requestlog.register(bp, control_scope)

    @bp.delete("/webhooks")
    def clear_webhooks():
        backend, webhooks = _target()
        scope = control_scope()
        inbox = _inbox(webhooks)
        with _change(backend):
            if scope is ALL_ACCOUNTS:
                inbox.clear()
            else:
                inbox.remove(lambda record: record.account_sid == scope)
        return Response(b"", status=204, content_type="application/json; charset=utf-8")

    return bp


def _inbox(webhooks):
    if webhooks is None:
        raise errors.NotImplementedByEmulator(errors.NO_INBOX)
    return webhooks.inbox
