"""How a callback reaches its receiver: the transports, chosen per URL prefix.

- ``Capture``: not sent anywhere; the record stays in the inbox for the test to read. An
  assignment callback gets no answer, so its reservation stays pending (accept it over REST).
- ``Handler``: a Python function answers, ``handler(record) -> answer`` (see ``to_answer``).
- ``WSGI``: the request is built as a real one (same URL, form body, headers, signature) and
  handed to a WSGI application in-process, e.g. the user's own Flask or Django webhook views.
- ``RealHTTP``: an HTTP POST to the URL, with Twilio's webhook timeouts and retry rule
  (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides): connect timeout
  5 s, read timeout 15 s, total 15 s, one retry when the TCP connection cannot be made; the
  URL fragment ``#ct=&rt=&tt=&rc=&rp=`` overrides them (milliseconds, retry count, policy).

Transports never raise: a failure is a ``Result`` with ``error`` set. ``RealHTTP`` uses the
standard library, not ``requests``, so a ``responses`` mock active in the same process (the
emulator's own in-process interception) cannot swallow the emulator's outbound callbacks.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .inbox import WebhookRecord

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
TOTAL_TIMEOUT = 15.0
RETRY_COUNT = 1
RETRY_POLICY = frozenset({"ct"})
MAX_BODY = 64 * 1024  # the part of a receiver's answer kept in the inbox


@dataclass
class Timeouts:
    """Connection settings of one delivery (seconds)."""

    connect: float = CONNECT_TIMEOUT
    read: float = READ_TIMEOUT
    total: float = TOTAL_TIMEOUT
    retries: int = RETRY_COUNT
    policy: frozenset = RETRY_POLICY

    @classmethod
    def for_url(cls, url: str, deadline: float | None = None) -> "Timeouts":
        """Twilio's defaults, overridden by the URL's fragment; ``deadline`` caps the wait for an
        answer (assignment callbacks must be answered within 5 s)."""
        t = cls()
        for key, value in parse_qsl(urlsplit(url).fragment):
            try:
                if key == "ct":
                    t.connect = int(value) / 1000
                elif key == "rt":
                    t.read = int(value) / 1000
                elif key == "tt":
                    t.total = int(value) / 1000
                elif key == "rc":
                    t.retries = max(0, min(int(value), 5))
                elif key == "rp":
                    t.policy = frozenset(p.strip() for p in value.split(",") if p.strip())
            except ValueError:
                continue  # an unreadable override is ignored, as a default applies
        if deadline is not None:
            t.read = min(t.read, deadline)
            t.total = min(t.total, deadline)
        return t


@dataclass
class Result:
    """What one delivery gave: the receiver's answer, or why there is none."""

    attempts: int = 0
    status: int | None = None
    headers: dict = field(default_factory=dict)
    body: str = ""
    error: str | None = None
    timed_out: bool = False
    failure: str | None = None  # for the retry policy: "ct", "rt", "4xx" or "5xx"

    @property
    def answered(self) -> bool:
        return self.status is not None

    def response(self) -> dict | None:
        if self.status is None:
            return None
        return {"status": self.status, "headers": dict(self.headers), "body": self.body[:MAX_BODY]}


class Answer:
    """An answer a Python handler may return when a dict is not enough."""

    def __init__(self, status: int = 200, body: str | bytes | dict | list | None = None,
                 headers: dict | None = None, content_type: str | None = None) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise TypeError(f"an answer's status must be an HTTP status code, not {status!r}")
        if body is not None and not isinstance(body, (str, bytes, dict, list)):
            raise TypeError(f"an answer's body must be str, bytes, a dict or a list, not {type(body).__name__}")
        if headers is not None and not isinstance(headers, dict):
            raise TypeError(f"an answer's headers must be a dict, not {type(headers).__name__}")
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            content_type = content_type or "application/json"
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        self.body = body or ""
        if content_type and not any(k.lower() == "content-type" for k in self.headers):
            self.headers["Content-Type"] = content_type


def to_answer(value) -> Answer:
    """What a handler returned, as an HTTP answer: ``None`` is an empty 200; a dict or list is
    a 200 JSON body; ``(status, body)`` or ``(status, body, headers)``; or an ``Answer``."""
    if isinstance(value, Answer):
        return value
    if value is None:
        return Answer(200, "", content_type="application/json")
    if isinstance(value, (dict, list)):
        return Answer(200, value)
    if isinstance(value, tuple) and value and isinstance(value[0], int):
        status, body, headers = (tuple(value) + (None, None))[:3]
        return Answer(status, body, headers)
    if isinstance(value, (str, bytes)):
        return Answer(200, value, content_type="text/plain")
    raise TypeError(f"a webhook handler returned {type(value).__name__}; return None, a dict, "
                    "(status, body[, headers]) or an Answer")


class Transport:
    name = "transport"
    asynchronous = False

    def deliver(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        raise NotImplementedError


class Capture(Transport):
    """Keep the record; send nothing."""

    name = "capture"

    def deliver(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        return Result(attempts=0)


def _in_process(call: Callable[[], Result]) -> Result:
    """Run an in-process delivery. Only a ``TimeoutError`` the receiver raises counts as a
    timeout: the wall clock is not the emulator's clock, and a slow machine or a breakpoint in a
    handler must not change what happens to a reservation."""
    try:
        return call()
    except TimeoutError as exc:
        return Result(attempts=1, error=f"read timed out: {exc}" if str(exc) else "read timed out",
                      timed_out=True)
    except Exception as exc:  # the receiver failed (or answered nonsense): no answer, like a broken connection
        return Result(attempts=1, error=f"{type(exc).__name__}: {exc}")


class Handler(Transport):
    """Answer with a Python function: ``handler(record) -> None | dict | (status, body[, headers]) | Answer``.
    A handler that raises gives no answer (``TimeoutError`` reads as a timeout)."""

    name = "handler"

    def __init__(self, handler: Callable[[WebhookRecord], object]) -> None:
        self.handler = handler

    def deliver(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        def call() -> Result:
            answer = to_answer(self.handler(record))
            return Result(attempts=1, status=answer.status, headers=answer.headers, body=answer.body)

        return _in_process(call)


class WSGI(Transport):
    """POST the callback to a WSGI application in-process, exactly as it would arrive over HTTP."""

    name = "wsgi"

    def __init__(self, app) -> None:
        from werkzeug.test import Client

        self.client = Client(app)

    def deliver(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        parts = urlsplit(record.url)

        def call() -> Result:
            answer = self.client.open(parts.path or "/", base_url=f"{parts.scheme}://{parts.netloc}",
                                      query_string=parts.query, method=record.method,
                                      headers=list(record.headers.items()), data=form_body(record.params))
            return Result(attempts=1, status=answer.status_code, headers=dict(answer.headers),
                          body=answer.get_data(as_text=True))

        return _in_process(call)


def form_body(params: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(list(params.items())).encode("utf-8")


def without_fragment(url: str) -> str:
    """The URL as requested and signed: a fragment never reaches the receiver."""
    return url.split("#", 1)[0]


class RealHTTP(Transport):
    """A real HTTP POST, on the delivery thread (it never blocks the request that caused it)."""

    name = "http"
    asynchronous = True

    def deliver(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            result = self._attempt(record, timeouts)
            result.attempts = attempts
            failure = result.failure
            if failure is None or attempts > timeouts.retries:
                return result
            if "all" not in timeouts.policy and failure not in timeouts.policy:
                return result
            if time.monotonic() - started >= timeouts.total:
                return result

    def _attempt(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        parts = urlsplit(record.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return Result(error=f"cannot deliver to {record.url!r}: not an http(s) URL")
        port = parts.port or (443 if scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        kwargs: dict[str, Any] = {"context": ssl.create_default_context()} if scheme == "https" else {}
        conn = conn_cls(parts.hostname, port, timeout=timeouts.connect, **kwargs)
        try:
            try:
                conn.connect()
            except (OSError, ssl.SSLError) as exc:
                return Result(error=f"connection to {parts.hostname}:{port} failed: {exc}",
                                timed_out=isinstance(exc, socket.timeout), failure="ct")
            conn.sock.settimeout(timeouts.read)
            headers = {k: v for k, v in record.headers.items() if k.lower() != "host"}
            try:
                conn.request(record.method, path, body=form_body(record.params), headers=headers)
                answer = conn.getresponse()
                body = answer.read(MAX_BODY + 1).decode("utf-8", "replace")
            except TimeoutError:
                return Result(error=f"read timed out after {timeouts.read:g} s", timed_out=True, failure="rt")
            except OSError as exc:
                return Result(error=f"{type(exc).__name__}: {exc}", failure="rt")
            failure = "4xx" if 400 <= answer.status < 500 else "5xx" if answer.status >= 500 else None
            return Result(status=answer.status, headers=dict(answer.getheaders()), body=body, failure=failure)
        finally:
            conn.close()
