"""The request log: every API request the emulator answered, kept in memory with a bound.

One record per request outside the control API: method, path, parameters, account, status,
Twilio error code and message, the virtual instant, the real duration, and the fault injected
into it if any. Read from Python (``emu.requests``), over HTTP (``GET /_emulator/requests``) and
in the log: one line per request on the ``emulator.requests`` logger at INFO, the bodies at DEBUG
(``taskrouter-emulator serve --log-level INFO``).

The hooks are cross-cutting (``before_request`` / ``after_request`` of the app), so no resource
handler knows about them. Requests the guard stopped before they reached the app (another
Twilio host while ``mock()`` intercepts) are recorded too, with ``blocked`` set.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, Response, current_app, g, request

from . import errors
from .sids import is_sid

log = logging.getLogger("emulator.requests")

# Where the API view leaves the account the request authenticated as (so it is not decoded twice).
ACCOUNT_KEY = "emulator.account_sid"
DEFAULT_SIZE = 1000  # records kept; the oldest go first
BODY_LOG_LIMIT = 4000  # characters of a body written at DEBUG


def iso_ms(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


@dataclass(eq=False)
class RequestRecord:
    """One request the emulator answered (or, ``blocked``, one the guard stopped).

    ``parameters`` are the query and form fields as sent (a list where a name was repeated);
    ``error_code`` / ``error_message`` come from the Twilio error body of a 4xx/5xx answer;
    ``timestamp`` is the virtual instant it was answered at; ``duration_ms`` the real time taken;
    ``fault`` describes the fault injected into it (``emu.faults``), if any. ``direction`` is
    ``"api"``, or ``"callback"`` for a callback a fault answered instead of its receiver."""

    id: int
    method: str
    path: str
    host: str
    parameters: dict[str, Any]
    account_sid: str | None
    status: int | None
    timestamp: datetime
    duration_ms: float = 0.0
    error_code: int | None = None
    error_message: str | None = None
    fault: str | None = None
    blocked: bool = False
    direction: str = "api"

    def to_dict(self) -> dict:
        return {"id": self.id, "method": self.method, "path": self.path, "host": self.host,
                "parameters": dict(self.parameters), "account_sid": self.account_sid, "status": self.status,
                "error_code": self.error_code, "error_message": self.error_message,
                "timestamp": iso_ms(self.timestamp), "timestamp_ms": int(self.timestamp.timestamp() * 1000),
                "duration_ms": round(self.duration_ms, 3), "fault": self.fault, "blocked": self.blocked,
                "direction": self.direction}

    def matches(self, method: str | None = None, path: str | None = None, status: int | None = None,
                account_sid: str | None = None, after: int | None = None, errors_only: bool = False) -> bool:
        return ((method is None or self.method == method.upper())
                and (path is None or path_matches(path, self.path))
                and (status is None or self.status == status)
                and (account_sid is None or self.account_sid == account_sid)
                and (after is None or self.id > after)
                and (not errors_only or self.blocked or (self.status is not None and self.status >= 400)))

    def line(self) -> str:
        """The record as one log line."""
        status = "blocked" if self.blocked else str(self.status)
        text = f"{self.method} {self.path} {status}"
        if self.direction == "callback":
            text = f"callback {self.method} {self.host}{self.path} {self.status or 'no answer'}"
        if self.error_code is not None:
            text += f" {self.error_code} {self.error_message!r}"
        text += f" account={self.account_sid or '-'} at={iso_ms(self.timestamp)} {self.duration_ms:.1f}ms"
        if self.fault:
            text += f" [fault: {self.fault}]"
        return text


def path_matches(pattern: str, path: str) -> bool:
    """``pattern`` against a request path: a glob (``/v1/Workspaces/*/Tasks``; ``*`` stays within
    one path segment, ``**`` crosses segments) or, starting with ``^``, a regular expression."""
    if pattern.startswith("^"):
        return re.search(pattern, path) is not None
    return _glob(pattern).fullmatch(path) is not None


_GLOBS: dict[str, re.Pattern] = {}


def _glob(pattern: str) -> re.Pattern:
    compiled = _GLOBS.get(pattern)
    if compiled is None:
        parts = re.split(r"(\*\*|\*|\?)", pattern)
        regex = "".join({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(p, re.escape(p)) for p in parts)
        compiled = _GLOBS[pattern] = re.compile(regex + "/?")
    return compiled


def valid_path_pattern(pattern: str) -> bool:
    if pattern.startswith("^"):
        try:
            re.compile(pattern)
        except re.error:
            return False
    return bool(pattern)


class RequestLog:
    """The last ``size`` requests, oldest first. Thread-safe; iterate it, ``len()`` it, index it
    (``emu.requests[-1]``), filter it with ``records(...)``."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._records.maxlen or 0

    def add(self, **fields) -> RequestRecord:
        with self._lock:
            record = RequestRecord(id=next(self._ids), **fields)
            self._records.append(record)
        return record

    def records(self, method: str | None = None, path: str | None = None, status: int | None = None,
                account_sid: str | None = None, after: int | None = None,
                errors_only: bool = False) -> list[RequestRecord]:
        """The records matching every filter given, oldest first: ``method``, ``path`` (a glob
        such as ``/v1/Workspaces/*/Tasks``, or a regular expression starting with ``^``),
        ``status``, ``account_sid``, ``after`` (an id cursor), ``errors_only`` (4xx, 5xx, blocked)."""
        with self._lock:
            snapshot = list(self._records)
        return [r for r in snapshot if r.matches(method, path, status, account_sid, after, errors_only)]

    def clear(self) -> None:
        """Forget every record (ids keep growing, so an ``after`` cursor stays valid)."""
        with self._lock:
            self._records.clear()

    def __iter__(self) -> Iterator[RequestRecord]:
        with self._lock:
            return iter(list(self._records))

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return list(self._records)[index]

    def __repr__(self) -> str:
        return f"<RequestLog {len(self)} of at most {self.size}>"


# --- the hooks ----------------------------------------------------------------------------------
def account_of(authorization: str | None, credentials) -> str | None:
    """The account a request's Basic credentials name (an API key's owner), without checking them."""
    if not authorization or not authorization.startswith("Basic "):
        return None
    try:
        username = base64.b64decode(authorization[6:], validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if username.startswith("SK") and credentials is not None:
        key = credentials.api_keys.get(username)
        return key[1] if key else None
    return username if username.startswith("AC") and len(username) == 34 else None


def _parameters(req) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for source in (req.args, req.form if req.mimetype == "application/x-www-form-urlencoded" else None):
        if not source:
            continue
        for name in source:
            items = source.getlist(name)
            values[name] = items[0] if len(items) == 1 else items
    return values


def start_timer() -> None:
    """``before_request``: note when the request arrived (real time, for ``duration_ms``)."""
    g.request_started = time.perf_counter()


def record_response(response: Response) -> Response:
    """``after_request``: one record and one log line per request outside the control API."""
    from .control import is_control_path  # (the control API imports this module)

    # one proxy lookup, not one per use
    req = request._get_current_object()  # type: ignore[attr-defined]
    path = req.path
    if is_control_path(path):
        return response
    config = current_app.config
    requests_log: RequestLog | None = config.get("request_log")
    if requests_log is None:
        return response
    error_code = error_message = None
    if response.status_code >= 400 and response.mimetype == "application/json":
        try:
            body = json.loads(response.get_data())
        except ValueError:
            body = None
        if isinstance(body, dict):
            error_code, error_message = body.get("code"), body.get("message")
    environ = req.environ
    # the account the API view authenticated (when it ran), else the one the credentials name
    account_sid = environ.get(ACCOUNT_KEY) or account_of(environ.get("HTTP_AUTHORIZATION"), config.get("credentials"))
    flask_g = g._get_current_object()
    started = getattr(flask_g, "request_started", None)
    record = requests_log.add(
        method=req.method, path=path, host=req.host, parameters=_parameters(req), account_sid=account_sid,
        status=response.status_code, timestamp=config["backend"].clock.now(),
        duration_ms=(time.perf_counter() - started) * 1000 if started is not None else 0.0,
        error_code=error_code, error_message=error_message, fault=getattr(flask_g, "fault", None))
    if log.isEnabledFor(logging.INFO):
        log.log(logging.WARNING if record.fault else logging.INFO, "%s", record.line())
        if log.isEnabledFor(logging.DEBUG):
            body = req.get_data(as_text=True)
            if body:
                log.debug("  request body: %s", body[:BODY_LOG_LIMIT])
            if not response.is_streamed:
                log.debug("  response body: %s", response.get_data(as_text=True)[:BODY_LOG_LIMIT])
    return response


def record_blocked(app: Flask, method: str, url: str) -> None:
    """A request the guard stopped (another Twilio host while ``mock()`` intercepts)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    record = app.config["request_log"].add(
        method=method, path=parts.path or "/", host=parts.netloc, parameters=dict(parse_qsl(parts.query)),
        account_sid=None, status=None, timestamp=app.config["backend"].clock.now(),
        error_message="blocked: not a TaskRouter host (guard=False lets it through)", blocked=True)
    log.warning("%s", record.line())


def attach(app: Flask, size: int = DEFAULT_SIZE) -> RequestLog:
    """Give ``app`` a request log and the hooks that fill it."""
    requests_log = RequestLog(size)
    app.config["request_log"] = requests_log
    app.config["on_blocked"] = lambda method, url: record_blocked(app, method, url)
    app.before_request(start_timer)
    app.after_request(record_response)
    app.config["backend"].on_reset(lambda account_sid: requests_log.clear() if account_sid is None else None)
    return requests_log


# --- the control API ------------------------------------------------------------------------------
METHODS = ("GET", "POST", "DELETE")  # the methods TaskRouter's REST API answers
# What ``GET /_emulator/requests`` filters by; anything else is refused, not silently ignored.
REQUEST_FILTERS = ("Method", "Path", "Status", "AccountSid", "After", "Errors")


def register(bp, control_scope) -> None:
    """``GET`` and ``DELETE /_emulator/requests`` on the control blueprint (its guard applies)."""

    @bp.get("/requests")
    def list_requests():
        requests_log = _log()
        unknown = sorted(set(request.args) - set(REQUEST_FILTERS))
        if unknown:
            raise errors.InvalidParameter(errors.CONTROL_UNKNOWN_PARAMETER.format(
                name=unknown[0][:100], path=request.path, known=", ".join(REQUEST_FILTERS)))
        after = request.args.get("After")
        if after is not None:
            if not re.fullmatch(r"[0-9]+", after.strip()):
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="After", reason="must be the id of a request record (a non-negative integer)"))
            after = int(after)
        status = request.args.get("Status")
        if status is not None:
            if not re.fullmatch(r"[1-5][0-9][0-9]", status.strip()):
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="Status", reason="must be an HTTP status code"))
            status = int(status)
        path = request.args.get("Path")
        if path is not None and not valid_path_pattern(path):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Path", reason="must be a glob or a regular expression starting with ^"))
        account_sid = request.args.get("AccountSid")
        if account_sid is not None and not is_sid(account_sid, "AC"):
            raise errors.InvalidParameter(errors.INVALID_SID.format(value=account_sid[:200], name="AccountSid"))
        method = request.args.get("Method")
        if method is not None and method.upper() not in METHODS:
            raise errors.InvalidParameter(errors.INVALID_METHOD.format(name="Method", methods=", ".join(METHODS)))
        scope = control_scope()
        if scope is not None:
            if account_sid is not None and account_sid != scope:
                raise errors.Forbidden(errors.CONTROL_OTHER_ACCOUNT.format(own=scope, other=account_sid))
            account_sid = scope
        errors_raw = request.args.get("Errors", "false").strip().lower()
        if errors_raw not in ("true", "false"):
            raise errors.InvalidParameter(errors.INVALID_BOOLEAN.format(name="Errors"))
        records = requests_log.records(method=method, path=path, status=status,
                                       account_sid=account_sid, after=after, errors_only=errors_raw == "true")
        return Response(json.dumps({"requests": [r.to_dict() for r in records], "size": requests_log.size}),
                        content_type="application/json; charset=utf-8")

    @bp.delete("/requests")
    def clear_requests():
        from .control import require_all_accounts

        require_all_accounts("clearing the request log")
        _log().clear()
        return Response(b"", status=204, content_type="application/json; charset=utf-8")


def _log() -> RequestLog:
    requests_log = current_app.config.get("request_log")
    if requests_log is None:
        raise errors.NotImplementedByEmulator(errors.NO_REQUEST_LOG)
    return requests_log


__all__ = ["RequestLog", "RequestRecord", "attach", "path_matches", "register"]
