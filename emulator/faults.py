"""Fault injection: make the emulator fail on purpose, so retry and backoff code can be tested.

- API faults (``Faults.api``): the next N requests matching a method, a path pattern and an
  account answer a Twilio error (429 with code 20429, 500, 503, ...) or take a given latency
  (real seconds) before they are served, or both. Applied by one ``before_request`` hook in
  front of every TaskRouter route, never inside a resource handler; a request refused by a
  fault changes nothing.
- Callback faults (``Faults.callback``): callbacks to URLs under a prefix fail (the connection
  is refused), time out, or get a given answer (status and body) instead of being delivered.

Every fault used shows: the request log's record names it (``fault``) and the log line is a
WARNING; the inbox record of a faulted callback has ``delivery == "fault"`` and its error or
response says which fault answered. Reached from Python (``emu.faults``), the pytest marker
``@pytest.mark.taskrouter_fault(...)`` and the control API (``/_emulator/faults``).
"""

from __future__ import annotations

import builtins
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request

from . import errors
from .requestlog import METHODS, account_of, path_matches, valid_path_pattern
from .sids import is_sid
from .webhooks.delivery import Result, Timeouts, Transport
from .webhooks.inbox import WebhookRecord

# Twilio's generic errors mirror the HTTP status (https://www.twilio.com/docs/api/errors/20429,
# /20500, /20503); their messages are the status phrases.
DEFAULT_CODES = {429: 20429, 500: 20500, 502: 20502, 503: 20503, 504: 20504}
MAX_LATENCY = 600.0


def _default_code(status: int) -> int:
    return DEFAULT_CODES.get(status, 20000 + status)


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


@dataclass(eq=False)
class ApiFault:
    """Requests matching ``method``, ``path`` (glob or ``^regex``) and ``account_sid`` (None: any)
    answer ``status`` with Twilio error ``code`` and ``message``, after ``latency`` seconds;
    ``times`` requests in all (None: until cleared). ``hits`` counts those it answered."""

    id: int
    status: int | None = None
    code: int | None = None
    message: str | None = None
    latency: float | None = None
    method: str | None = None
    path: str | None = None
    account_sid: str | None = None
    times: int | None = 1
    hits: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(0, self.times - self.hits)

    def matches(self, method: str, path: str, account_sid: str | None) -> bool:
        return ((self.method is None or self.method == method)
                and (self.path is None or path_matches(self.path, path))
                and (self.account_sid is None or self.account_sid == account_sid))

    def describe(self) -> str:
        what = []
        if self.latency:
            what.append(f"latency {self.latency:g}s")
        if self.status is not None:
            what.append(f"{self.status} {self.code}")
        of = f"{self.hits} of {self.times}" if self.times is not None else f"{self.hits}"
        return f"injected {' then '.join(what)} (fault {self.id}, {of})"

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": "api", "status": self.status, "code": self.code, "message": self.message,
                "latency": self.latency, "method": self.method, "path": self.path, "account_sid": self.account_sid,
                "times": self.times, "hits": self.hits, "remaining": self.remaining}


@dataclass(eq=False)
class CallbackFault:
    """Callbacks to URLs starting with ``url_prefix``: ``action`` ``"fail"`` (connection
    refused), ``"timeout"`` (no answer in time) or ``"answer"`` (``status``, ``body``,
    ``content_type``); ``times`` callbacks in all (None: until cleared)."""

    id: int
    url_prefix: str
    action: str = "fail"
    status: int | None = None
    body: str = ""
    content_type: str | None = None
    times: int | None = None
    hits: int = 0

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(0, self.times - self.hits)

    def describe(self) -> str:
        what = {"fail": "connection refused", "timeout": "timeout"}.get(self.action, f"answer {self.status}")
        of = f"{self.hits} of {self.times}" if self.times is not None else f"{self.hits}"
        return f"injected {what} (fault {self.id}, {of})"

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": "callback", "url_prefix": self.url_prefix, "action": self.action,
                "status": self.status, "body": self.body, "content_type": self.content_type, "times": self.times,
                "hits": self.hits, "remaining": self.remaining}


class _FaultTransport(Transport):
    """Delivers a callback as its fault says, without sending anything."""

    name = "fault"
    asynchronous = False

    def __init__(self, fault: CallbackFault, note: str, on_use=None) -> None:
        self.fault = fault
        self.note = note
        self.on_use = on_use  # told of each callback it answers (the request log records it)

    def deliver(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        fault = self.fault
        if self.on_use is not None:
            self.on_use(record, self)
        if fault.action == "timeout":
            return Result(attempts=1, error=f"read timed out: {self.note}", timed_out=True, failure="rt")
        if fault.action == "fail":
            return Result(attempts=1, error=f"connection refused: {self.note}", failure="ct")
        status = fault.status or 200
        failure = "4xx" if 400 <= status < 500 else "5xx" if status >= 500 else None
        headers = {"Content-Type": fault.content_type} if fault.content_type else {}
        headers["X-Emulator-Fault"] = self.note
        return Result(attempts=1, status=status, headers=headers, body=fault.body, failure=failure)


class Faults:
    """The faults of one emulator: ``api(...)``, ``callback(...)``, ``list()``, ``clear()``.
    Thread-safe; each fault is used up in the order requests and callbacks arrive."""

    def __init__(self) -> None:
        self._api: list[ApiFault] = []
        self._callbacks: list[CallbackFault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        # called with (record, transport) for each callback a fault answers
        self.on_callback_fault: Callable[[WebhookRecord, _FaultTransport], None] | None = None

    # --- adding -----------------------------------------------------------------------------
    def api(self, status: int | None = None, *, code: int | None = None, message: str | None = None,
            latency: float | None = None, method: str | None = None, path: str | None = None,
            account_sid: str | None = None, times: int | None = 1) -> ApiFault:
        """Make the next ``times`` API requests (None: every one until cleared) that match
        ``method``, ``path`` (a glob such as ``/v1/Workspaces/*/Tasks``, ``*`` within one path
        segment and ``**`` across, or a regular expression starting with ``^``) and
        ``account_sid`` answer HTTP ``status`` with a Twilio error body (``code`` defaults to
        20429 for 429, 20500 for 500, 20503 for 503, else 20000 + status; ``message`` to the
        status phrase), and/or wait ``latency`` real seconds first. Returns the fault
        (``hits``, ``remaining``)."""
        if status is None and not latency:
            raise ValueError("a fault needs a status to answer, a latency, or both")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
            raise ValueError(f"status must be an HTTP error status (400-599), not {status!r}")
        if latency is not None and (isinstance(latency, bool) or not isinstance(latency, (int, float))
                                    or not 0 <= latency <= MAX_LATENCY):
            raise ValueError(f"latency must be a number of seconds between 0 and {MAX_LATENCY:g}, not {latency!r}")
        if method is not None and method.upper() not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
        if path is not None and not valid_path_pattern(path):
            raise ValueError(f"path must be a glob or a regular expression starting with ^, not {path!r}")
        _check_times(times)
        if code is not None and (isinstance(code, bool) or not isinstance(code, int)):
            raise ValueError(f"code must be an integer Twilio error code, not {code!r}")
        fault = ApiFault(id=0, status=status, latency=float(latency) if latency else None,
                         method=method.upper() if method else None, path=path, account_sid=account_sid, times=times)
        if status is not None:
            fault.code = code if code is not None else _default_code(status)
            fault.message = message or _phrase(status)
        with self._lock:
            fault.id = next(self._ids)
            self._api.append(fault)
        return fault

    def callback(self, url_prefix: str, *, status: int | None = None, body: str | dict | list | None = None,
                 content_type: str | None = None, timeout: bool = False, times: int | None = None) -> CallbackFault:
        """Make callbacks to URLs starting with ``url_prefix`` fail instead of being delivered:
        with ``timeout=True`` they time out; with ``status`` and/or ``body`` they get that answer
        (a dict or list body is JSON); with neither the connection is refused. ``times``
        callbacks in all (None, the default: every one until cleared)."""
        if not isinstance(url_prefix, str) or not url_prefix:
            raise ValueError("url_prefix must be the start of the callback URLs to fail")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
            raise ValueError(f"status must be an HTTP status code, not {status!r}")
        if timeout and (status is not None or body is not None):
            raise ValueError("a callback fault either times out or answers, not both")
        _check_times(times)
        if isinstance(body, (dict, list)):
            body, content_type = json.dumps(body), content_type or "application/json"
        elif body is not None and not isinstance(body, str):
            raise ValueError(f"body must be text, a dict or a list, not {type(body).__name__}")
        action = "timeout" if timeout else "answer" if (status is not None or body is not None) else "fail"
        if action == "answer" and content_type is None:
            content_type = "application/json" if (body or "").lstrip().startswith(("{", "[")) else "text/plain"
        fault = CallbackFault(id=0, url_prefix=url_prefix, action=action, status=status if action == "answer" else None,
                              body=body or "", content_type=content_type if action == "answer" else None, times=times)
        if action == "answer" and fault.status is None:
            fault.status = 200
        with self._lock:
            fault.id = next(self._ids)
            self._callbacks.append(fault)
        return fault

    # --- reading and clearing -----------------------------------------------------------------
    def list(self) -> list[ApiFault | CallbackFault]:
        """Every fault, used up or not, in the order they were added."""
        with self._lock:
            return sorted([*self._api, *self._callbacks], key=lambda f: f.id)

    def clear(self, account_sid: str | None = None) -> None:
        """Remove every fault (or only the API faults of ``account_sid``)."""
        with self._lock:
            if account_sid is not None:
                self._api = [f for f in self._api if f.account_sid != account_sid]
                return
            self._api, self._callbacks = [], []

    def remove(self, fault_id: int) -> bool:
        with self._lock:
            before = len(self._api) + len(self._callbacks)
            self._api = [f for f in self._api if f.id != fault_id]
            self._callbacks = [f for f in self._callbacks if f.id != fault_id]
            return len(self._api) + len(self._callbacks) != before

    def __len__(self) -> int:
        with self._lock:
            return len(self._api) + len(self._callbacks)

    # --- using --------------------------------------------------------------------------------
    def take_api(self, method: str, path: str, account_sid: str | None) -> builtins.list[ApiFault]:
        """The live API faults this request meets, each counted as used, in the order added:
        every matching latency and the first matching error (the answer, last in the list)."""
        delays: builtins.list[ApiFault] = []
        answer: ApiFault | None = None
        with self._lock:
            for fault in self._api:
                if fault.remaining == 0 or (answer is not None and fault.status is not None):
                    continue
                if fault.matches(method, path, account_sid):
                    fault.hits += 1
                    if fault.status is None:
                        delays.append(fault)
                    else:
                        answer = fault
        return delays + ([answer] if answer is not None else [])

    def take_callback(self, url: str) -> _FaultTransport | None:
        """The transport of the first live callback fault whose prefix starts ``url``, counted as used."""
        with self._lock:
            for fault in self._callbacks:
                if fault.remaining != 0 and url.startswith(fault.url_prefix):
                    fault.hits += 1
                    return _FaultTransport(fault, fault.describe(), self.on_callback_fault)
        return None


def _check_times(times) -> None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ValueError(f"times must be a positive number of requests, or None for every one, not {times!r}")


# --- the hook ---------------------------------------------------------------------------------------
def inject() -> Response | None:
    """``before_request``: answer with (or delay by) the first API fault matching this request."""
    faults: Faults | None = current_app.config.get("faults")
    if faults is None or not faults._api:
        return None  # (every request asks: the common answer costs no more than this)
    from .control import is_control_path
    from .http.app import error_response

    if is_control_path(request.path):
        return None
    account_sid = account_of(request.headers.get("Authorization"), current_app.config.get("credentials"))
    used = faults.take_api(request.method, request.path, account_sid)
    if not used:
        return None
    g.fault = "; ".join(fault.describe() for fault in used)
    latency = sum(fault.latency or 0.0 for fault in used)
    if latency:
        time.sleep(latency)
    answer = used[-1]
    if answer.status is None:
        return None
    return error_response(errors.TwilioError(answer.message or _phrase(answer.status), status=answer.status,
                                             code=answer.code))


def _log_callback_fault(app: Flask, record: WebhookRecord, transport: _FaultTransport) -> None:
    """A callback a fault answered goes into the request log too (``direction`` ``"callback"``)."""
    from urllib.parse import urlsplit

    requests_log = app.config.get("request_log")
    if requests_log is None:
        return
    parts = urlsplit(record.url)
    fault = transport.fault
    entry = requests_log.add(
        method=record.method, path=parts.path or "/", host=parts.netloc, parameters=dict(record.params),
        account_sid=record.account_sid, status=fault.status if fault.action == "answer" else None,
        timestamp=app.config["backend"].clock.now(), fault=transport.note, direction="callback",
        error_message=None if fault.action == "answer" else f"{fault.action} (webhook {record.id})")
    import logging

    logging.getLogger("emulator.requests").warning("%s", entry.line())


def attach(app: Flask, webhooks=None) -> Faults:
    """Give ``app`` (and its webhooks) a ``Faults`` and the hook that applies it."""
    faults = Faults()
    app.config["faults"] = faults
    app.before_request(inject)
    # a full reset (emu.reset(), POST /_emulator/reset) removes every fault, an account's its own
    app.config["backend"].on_reset(faults.clear)
    faults.on_callback_fault = lambda record, transport: _log_callback_fault(app, record, transport)
    if webhooks is not None:
        webhooks.faults = faults
    return faults


# --- the control API ------------------------------------------------------------------------------
def _int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", raw.strip()):
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason="not a whole number"))
    return int(raw)


def _float(name: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason="not a number")) from None
    if value != value:  # NaN
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name=name, reason="not a number"))
    return value


def _can_match_a_callback(prefix: str) -> bool:
    """Whether some callback URL (always absolute http or https) can start with ``prefix``."""
    lowered = prefix.lower()
    return any(lowered.startswith(scheme) or scheme.startswith(lowered) for scheme in ("http://", "https://"))


def register(bp, control_scope) -> None:
    """``/_emulator/faults`` on the control blueprint (its guard applies): ``POST`` adds one,
    ``GET`` lists them, ``DELETE`` removes them all, ``DELETE /_emulator/faults/<id>`` one."""
    from .control import require_all_accounts

    @bp.post("/faults")
    def add_fault():
        faults = _faults()
        values = request.values
        times_raw = values.get("Times")
        times = None if times_raw is not None and times_raw.strip().lower() in ("all", "every") else _int("Times", times_raw)
        try:
            if values.get("CallbackUrl") is not None:
                require_all_accounts("failing callbacks")
                if not _can_match_a_callback(values["CallbackUrl"]):
                    raise errors.InvalidParameter(errors.INVALID_URL.format(
                        name="CallbackUrl", value=values["CallbackUrl"][:200], reason=errors.CALLBACK_FAULT_URL))
                timeout = values.get("Timeout", "false").strip().lower()
                if timeout not in ("true", "false"):
                    raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Timeout", reason="must be true or false"))
                fault: ApiFault | CallbackFault = faults.callback(
                    values["CallbackUrl"], status=_int("Status", values.get("Status")), body=values.get("Body"),
                    content_type=values.get("ContentType"), timeout=timeout == "true",
                    times=times if times_raw is not None else None)
            else:
                account_sid = values.get("AccountSid")
                if account_sid is not None and not is_sid(account_sid, "AC"):
                    # a fault for a malformed account could never fire
                    raise errors.InvalidParameter(errors.INVALID_SID.format(value=account_sid[:200], name="AccountSid"))
                scope = control_scope()
                if scope is not None:
                    if account_sid is not None and account_sid != scope:
                        raise errors.Forbidden(errors.CONTROL_OTHER_ACCOUNT.format(own=scope, other=account_sid))
                    account_sid = scope
                fault = faults.api(_int("Status", values.get("Status")), code=_int("Code", values.get("Code")),
                                   message=values.get("Message"), latency=_float("Latency", values.get("Latency")),
                                   method=values.get("Method"), path=values.get("Path"), account_sid=account_sid,
                                   times=times if times_raw is not None else 1)
        except ValueError as exc:
            raise errors.InvalidParameter(errors.INVALID_FAULT.format(reason=exc)) from None
        return Response(json.dumps(fault.to_dict()), status=201, content_type="application/json; charset=utf-8")

    @bp.get("/faults")
    def list_faults():
        scope = control_scope()
        listed = [f for f in _faults().list()
                  if scope is None or (isinstance(f, ApiFault) and f.account_sid == scope)]
        return Response(json.dumps({"faults": [f.to_dict() for f in listed]}),
                        content_type="application/json; charset=utf-8")

    @bp.delete("/faults")
    def clear_faults():
        _faults().clear(control_scope())
        return Response(b"", status=204, content_type="application/json; charset=utf-8")

    @bp.delete("/faults/<fault_id>")
    def remove_fault(fault_id: str):
        require_all_accounts("removing a fault by id")
        number = _int("id", fault_id)
        if number is None or not _faults().remove(number):
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=request.path))
        return Response(b"", status=204, content_type="application/json; charset=utf-8")


def _faults() -> Faults:
    faults = current_app.config.get("faults")
    if faults is None:
        raise errors.NotImplementedByEmulator("this emulator app has no fault injection")
    return faults


def from_marker(faults: Faults, kwargs: dict) -> ApiFault | CallbackFault:
    """Add the fault ``@pytest.mark.taskrouter_fault(**kwargs)`` describes: ``callback=PREFIX``
    and ``Faults.callback``'s options, or ``Faults.api``'s options."""
    options = dict(kwargs)
    prefix = options.pop("callback", None)
    if prefix is not None:
        return faults.callback(prefix, **options)
    return faults.api(**options)
