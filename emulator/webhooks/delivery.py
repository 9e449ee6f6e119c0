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

import hashlib
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections import OrderedDict, deque
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
    """A real HTTP POST, on a delivery thread (it never blocks the request that caused it).

    Each delivery thread keeps its connections to receivers open between callbacks (HTTP/1.1
    keep-alive, at most ``KEPT_CONNECTIONS`` per thread), so a busy receiver is not paid a new
    TCP connection per callback. A kept connection the receiver has closed meanwhile is replaced
    at once, without counting an attempt."""

    name = "http"
    asynchronous = True
    KEPT_CONNECTIONS = 8

    def __init__(self) -> None:
        self._local = threading.local()

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

    def _kept(self) -> OrderedDict:
        kept = getattr(self._local, "connections", None)
        if kept is None:
            kept = self._local.connections = OrderedDict()
        return kept

    def _attempt(self, record: WebhookRecord, timeouts: Timeouts) -> Result:
        parts = urlsplit(record.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return Result(error=f"cannot deliver to {record.url!r}: not an http(s) URL")
        port = parts.port or (443 if scheme == "https" else 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {k: v for k, v in record.headers.items() if k.lower() != "host"}
        key = (scheme, parts.hostname, port)
        kept = self._kept()
        conn = kept.pop(key, None)
        reused = conn is not None
        if conn is None:
            conn_cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            kwargs: dict[str, Any] = {"context": ssl.create_default_context()} if scheme == "https" else {}
            conn = conn_cls(parts.hostname, port, timeout=timeouts.connect, **kwargs)
            try:
                conn.connect()
            except (OSError, ssl.SSLError) as exc:
                conn.close()
                return Result(error=f"connection to {parts.hostname}:{port} failed: {exc}",
                              timed_out=isinstance(exc, socket.timeout), failure="ct")
        keep = False
        try:
            assert conn.sock is not None
            conn.sock.settimeout(timeouts.read)
            try:
                conn.request(record.method, path, body=form_body(record.params), headers=headers)
                answer = conn.getresponse()
                body = answer.read(MAX_BODY + 1).decode("utf-8", "replace")
            except TimeoutError:
                return Result(error=f"read timed out after {timeouts.read:g} s", timed_out=True, failure="rt")
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                if reused:  # the receiver closed the kept connection while it was idle: a fresh one
                    conn.close()
                    return self._attempt(record, timeouts)
                return Result(error=f"{type(exc).__name__}: {exc}", failure="rt")
            except (OSError, http.client.HTTPException) as exc:
                return Result(error=f"{type(exc).__name__}: {exc}", failure="rt")
            keep = not answer.will_close and answer.isclosed()
            failure = "4xx" if 400 <= answer.status < 500 else "5xx" if answer.status >= 500 else None
            return Result(status=answer.status, headers=dict(answer.getheaders()), body=body, failure=failure)
        finally:
            if keep:
                kept[key] = conn
                while len(kept) > self.KEPT_CONNECTIONS:
                    kept.popitem(last=False)[1].close()
            else:
                conn.close()


# --- concurrency: who waits for whom -------------------------------------------------------------
WORKERS = 32  # deliveries in progress at once, overall
WORKERS_PER_DESTINATION = 4  # ... and to one receiver (scheme, host and port)
BACKLOG = 10_000  # callbacks waiting for a worker, overall
DESTINATION_BACKLOG = 1_000  # ... and for one receiver


def destination(url: str) -> str:
    """The receiver a URL names, as concurrency is counted: scheme, host and port."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{parts.port or ''}"
    except ValueError:
        return url


class Dispatcher:
    """Runs ``deliver(item)`` on a pool of threads, at most ``workers`` at once and at most
    ``per_destination`` for one receiver, so a slow, hanging or dead receiver holds up only its
    own callbacks. Items for one receiver go in ``per_destination`` lanes, each delivered in
    order one at a time; items with the same ``lane`` name (one task's callbacks) share a lane,
    so they reach the receiver in the order they were sent. Lanes with waiting work are served
    in turn. What waits is bounded: ``submit`` refuses an item (and says why) when its receiver
    already has ``destination_backlog`` waiting or ``backlog`` wait overall.

    Threads start as work arrives and are daemons: ``close`` does not wait for a delivery that
    hangs (a receiver that never answers holds a thread until its read timeout, no longer).
    """

    def __init__(self, deliver: Callable[[Any], None], *, workers: int = WORKERS,
                 per_destination: int = WORKERS_PER_DESTINATION, backlog: int = BACKLOG,
                 destination_backlog: int = DESTINATION_BACKLOG, name: str = "taskrouter-emulator-webhooks") -> None:
        if min(workers, per_destination, backlog, destination_backlog) < 1:
            raise ValueError("delivery limits must be at least 1")
        self._deliver = deliver
        self.workers = workers
        self.per_destination = per_destination
        self.backlog = backlog
        self.destination_backlog = destination_backlog
        self._name = name
        self._lock = threading.Condition()
        self._waiting: dict[tuple[str, int], deque] = {}  # per lane: (receiver, lane number)
        self._busy: set[tuple[str, int]] = set()  # lanes with a delivery in progress
        self._ready: deque[tuple[str, int]] = deque()  # lanes with waiting work and none in progress
        self._per_receiver: dict[str, int] = {}  # items waiting per receiver
        self._queued = 0
        self._running = 0
        self._threads: list[threading.Thread] = []
        self._idle_threads = 0
        self._closed = False

    @property
    def unfinished(self) -> int:
        """Items waiting or being delivered."""
        with self._lock:
            return self._queued + self._running

    def submit(self, receiver: str, item, lane: str = "") -> str | None:
        """Queue ``item`` for ``receiver`` in the lane named ``lane``; None, or why it was refused."""
        with self._lock:
            if self._closed:
                return "not delivered: the emulator is shutting down"
            waiting_here = self._per_receiver.get(receiver, 0)
            if waiting_here >= self.destination_backlog:
                return (f"not delivered: {waiting_here} callbacks to {receiver} were already waiting "
                        f"(the limit for one receiver); it answers too slowly")
            if self._queued >= self.backlog:
                return f"not delivered: {self._queued} callbacks were already waiting (the delivery backlog limit)"
            digest = hashlib.blake2s(lane.encode("utf-8", "replace"), digest_size=4).digest()
            key = (receiver, int.from_bytes(digest, "big") % self.per_destination)
            self._waiting.setdefault(key, deque()).append(item)
            self._per_receiver[receiver] = waiting_here + 1
            self._queued += 1
            self._make_ready(key)
            self._spawn_if_needed()
            return None

    def _make_ready(self, key: tuple[str, int]) -> None:
        if self._waiting.get(key) and key not in self._busy and key not in self._ready:
            self._ready.append(key)
            self._lock.notify()

    def _spawn_if_needed(self) -> None:
        # every lane ready for work should have a thread to take it, up to the overall limit
        if len(self._ready) > self._idle_threads and len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"{self._name}-{len(self._threads) + 1}", daemon=True)
            self._threads.append(thread)
            self._idle_threads += 1  # counted from now, so the next submit does not start another
            thread.start()

    def _work(self) -> None:
        with self._lock:
            while True:
                while not self._ready and not self._closed:
                    self._lock.wait()
                self._idle_threads -= 1
                if self._closed:
                    return
                key = self._ready.popleft()
                item = self._waiting[key].popleft()
                self._queued -= 1
                self._per_receiver[key[0]] -= 1
                if not self._per_receiver[key[0]]:
                    del self._per_receiver[key[0]]
                self._running += 1
                self._busy.add(key)
                self._spawn_if_needed()
                self._lock.release()
                try:
                    self._deliver(item)
                except Exception:  # the deliver function handles its own failures; the pool must live on
                    logging.getLogger("emulator.webhooks").exception("delivery failed")
                finally:
                    self._lock.acquire()
                    self._running -= 1
                    self._busy.discard(key)
                    self._idle_threads += 1
                    if self._waiting.get(key):
                        self._make_ready(key)
                    else:
                        self._waiting.pop(key, None)
                    self._lock.notify_all()

    def discard(self, predicate: Callable[[Any], bool] = lambda item: True) -> list:
        """Take every waiting item ``predicate`` selects out of the queues and return them."""
        taken: list = []
        with self._lock:
            for key, waiting in list(self._waiting.items()):
                kept: deque = deque()
                for item in waiting:
                    if predicate(item):
                        taken.append(item)
                        self._per_receiver[key[0]] -= 1
                    else:
                        kept.append(item)
                self._waiting[key] = kept
            self._per_receiver = {r: n for r, n in self._per_receiver.items() if n > 0}
            self._queued -= len(taken)
            self._ready = deque(k for k in self._ready if self._waiting.get(k))
            self._lock.notify_all()
        return taken

    def close(self, timeout: float = 1.0) -> list:
        """Stop: return what still waited; wait up to ``timeout`` seconds for deliveries in progress."""
        taken = self.discard()
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        return taken

    def reopen(self) -> None:
        """Accept work again after ``close`` (threads start afresh as work arrives)."""
        with self._lock:
            if self._closed:
                self._closed = False
                self._threads = [t for t in self._threads if t.is_alive()]
