"""The inbox: every callback the emulator sent (or tried to send), oldest first.

A record is created when the callback is queued, so nothing is lost: a delivery that fails keeps
its record, with the error. Records are read from Python (``Inbox``) and over HTTP
(``GET /_emulator/webhooks``), both with the same filters.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

EVENT = "event"
ASSIGNMENT = "assignment"
FALLBACK_ASSIGNMENT = "fallback_assignment"
KINDS = (EVENT, ASSIGNMENT, FALLBACK_ASSIGNMENT)


def iso_ms(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


class WebhookRecord:
    """One outbound callback.

    ``kind`` is ``event``, ``assignment`` or ``fallback_assignment``; ``params`` are the form
    fields as sent; ``headers`` carry a valid ``X-Twilio-Signature``; ``timestamp`` is the virtual
    instant of the event that caused it. After delivery, ``response`` is
    ``{"status", "headers", "body"}`` or ``error`` says why there was none; ``attempts`` counts
    the tries (0 when only captured). ``outcome`` says what an assignment callback's answer did.

    A record the outbox makes from an engine event keeps that event and the signature instead of
    the fields and headers (``render`` builds them when read, the same every time: the event never
    changes), so a captured callback is not a second copy of its event. Records compare by identity.
    """

    __slots__ = ("id", "kind", "url", "method", "_params", "_headers", "render", "timestamp", "account_sid",
                 "workspace_sid", "event_type", "task_sid", "reservation_sid", "delivery", "attempts", "response",
                 "error", "outcome", "done")

    def __init__(self, id: int, kind: str, url: str, method: str, params: Any, headers: Any, timestamp: datetime,
                 account_sid: str, workspace_sid: str, event_type: str | None = None, task_sid: str | None = None,
                 reservation_sid: str | None = None, delivery: str | None = None, attempts: int = 0,
                 response: dict | None = None, error: str | None = None, outcome: str | None = None,
                 done: bool = False, render: Any = None) -> None:
        self.id = id
        self.kind = kind
        self.url = url
        self.method = method
        # the form fields and headers, or (with ``render``) what ``render.params`` and ``render.headers`` build them from
        self._params = params
        self._headers = headers
        self.render = render
        self.timestamp = timestamp
        self.account_sid = account_sid
        self.workspace_sid = workspace_sid
        self.event_type = event_type
        self.task_sid = task_sid
        self.reservation_sid = reservation_sid
        self.delivery = delivery
        self.attempts = attempts
        self.response = response
        self.error = error
        self.outcome = outcome
        self.done = done

    @property
    def params(self) -> dict:
        return self._params if self.render is None else self.render.params(self, self._params)

    @property
    def headers(self) -> dict:
        return self._headers if self.render is None else self.render.headers(self, self._params, self._headers)

    def __repr__(self) -> str:
        return (f"WebhookRecord(id={self.id!r}, kind={self.kind!r}, url={self.url!r}, event_type={self.event_type!r}, "
                f"task_sid={self.task_sid!r}, done={self.done!r})")

    def well_formed(self) -> bool:
        """Whether every field has its type (a record rebuilt from a snapshot document is checked)."""
        optional_str = (self.event_type, self.task_sid, self.reservation_sid, self.delivery, self.error, self.outcome)
        return (isinstance(self.id, int) and not isinstance(self.id, bool) and self.kind in KINDS
                and all(isinstance(v, str) for v in (self.url, self.method, self.account_sid, self.workspace_sid))
                and all(v is None or isinstance(v, str) for v in optional_str)
                and (self.render is not None or isinstance(self._params, dict) and isinstance(self._headers, dict))
                and isinstance(self.timestamp, datetime) and self.timestamp.tzinfo is not None
                and isinstance(self.attempts, int) and isinstance(self.done, bool)
                and (self.response is None or isinstance(self.response, dict)))

    def to_dict(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "url": self.url, "method": self.method, "params": dict(self.params),
            "headers": dict(self.headers), "timestamp": iso_ms(self.timestamp),
            "timestamp_ms": int(self.timestamp.timestamp() * 1000), "account_sid": self.account_sid,
            "workspace_sid": self.workspace_sid, "event_type": self.event_type, "task_sid": self.task_sid,
            "reservation_sid": self.reservation_sid, "delivery": self.delivery, "attempts": self.attempts,
            "response": self.response, "error": self.error, "outcome": self.outcome, "done": self.done,
        }

    def matches(self, kind=None, event_type=None, workspace_sid=None, task_sid=None, after=None) -> bool:
        return ((kind is None or self.kind == kind)
                and (event_type is None or self.event_type == event_type)
                and (workspace_sid is None or self.workspace_sid == workspace_sid)
                and (task_sid is None or self.task_sid == task_sid)
                and (after is None or self.id > after))


class Inbox:
    """Every callback record, oldest first. Thread-safe; iterate it, ``len()`` it, filter it with
    ``records(...)`` and, when deliveries happen on another thread, ``wait_for(...)`` one.

    Retention (both off by default): ``max_records`` keeps at most that many records and
    ``max_age`` (seconds of virtual time, read from ``now()``) drops records older than that. The
    oldest go first as records are added; a record whose delivery has not finished is kept until
    it has (so its outcome is never lost), and the records behind it wait with it.
    """

    def __init__(self, *, max_records: int | None = None, max_age: float | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        if max_age is not None and now is None:
            raise ValueError("an inbox with max_age needs now(), the clock to measure age by")
        self._records: deque[WebhookRecord] = deque()
        self._by_id: dict[int, WebhookRecord] = {}
        self._changed = threading.Condition()
        self._version = 0  # bumped on every change, so waiters know when to look again
        self.max_records = max_records
        self.max_age = max_age
        self._now = now
        self.dropped = 0  # records dropped by retention so far

    def add(self, record: WebhookRecord) -> None:
        with self._changed:
            self._records.append(record)
            self._by_id[record.id] = record
            self._prune()
            self._version += 1
            self._changed.notify_all()

    def _prune(self) -> None:
        records = self._records
        if self.max_records is not None:
            while len(records) > self.max_records and records[0].done:
                self._by_id.pop(records.popleft().id, None)
                self.dropped += 1
        if self.max_age is not None and self._now is not None and records:
            oldest = self._now() - timedelta(seconds=self.max_age)
            while records and records[0].done and records[0].timestamp < oldest:
                self._by_id.pop(records.popleft().id, None)
                self.dropped += 1

    def page(self, limit: int, after: int | None = None, **filters) -> tuple[list[WebhookRecord], bool]:
        """Up to ``limit`` records matching ``filters`` (``records()``'s, plus ``account_sid``)
        with an id greater than ``after``, oldest first, and whether more follow."""
        account_sid = filters.pop("account_sid", None)
        found: list[WebhookRecord] = []
        with self._changed:
            records = self._records
            # ids grow along the inbox, so the cursor is found by bisection
            start = 0 if after is None else bisect.bisect_right(records, after, key=lambda r: r.id)
            for record in itertools.islice(records, start, None):
                if record.matches(**filters) and (account_sid is None or record.account_sid == account_sid):
                    if len(found) == limit:
                        return found, True
                    found.append(record)
        return found, False

    def get(self, record_id: int) -> WebhookRecord | None:
        """The record with this id, if the inbox still holds it."""
        with self._changed:
            return self._by_id.get(record_id)

    def finish(self, record: WebhookRecord, **fields) -> None:
        """Mark ``record`` delivered (or failed) with the given fields and wake waiters."""
        with self._changed:
            for name, value in fields.items():
                setattr(record, name, value)
            record.done = True
            self._version += 1
            self._changed.notify_all()

    def records(self, kind: str | None = None, event_type: str | None = None, workspace_sid: str | None = None,
                task_sid: str | None = None, after: int | None = None) -> list[WebhookRecord]:
        """The records matching every filter given, oldest first. ``after`` is an id cursor:
        only records with a greater id."""
        with self._changed:
            return [r for r in self._records
                    if r.matches(kind, event_type, workspace_sid, task_sid, after)]

    def events(self, event_type: str | None = None, **filters) -> list[WebhookRecord]:
        """Event callback records (shorthand for ``records(kind="event", ...)``)."""
        return self.records(kind=EVENT, event_type=event_type, **filters)

    def event_types(self, **filters) -> list[str]:
        """The ``EventType`` of each event callback, in order."""
        return [r.event_type for r in self.events(**filters) if r.event_type is not None]

    def replace(self, records: list[WebhookRecord]) -> None:
        """Hold exactly ``records`` (restoring a checkpoint)."""
        with self._changed:
            self._records = deque(records)
            self._by_id = {r.id: r for r in self._records}
            self._version += 1
            self._changed.notify_all()

    def remove(self, predicate: Callable[[WebhookRecord], bool]) -> None:
        """Drop every record ``predicate`` selects (one account's records, say)."""
        with self._changed:
            self._records = deque(r for r in self._records if not predicate(r))
            self._by_id = {r.id: r for r in self._records}
            self._version += 1
            self._changed.notify_all()

    def clear(self) -> None:
        """Empty the inbox (ids keep growing, so an ``after`` cursor stays valid)."""
        with self._changed:
            self._records.clear()
            self._by_id.clear()
            self._version += 1
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[WebhookRecord], bool] | None = None, timeout: float = 5.0, *,
                 params: dict | None = None, **filters) -> WebhookRecord:
        """Wait until a finished record (delivered, failed or captured) matches ``predicate``,
        the field filters (``kind``, ``event_type``, ``task_sid``, ``url``, ``outcome``, ... and
        ``after``) and ``params`` (form fields it must carry), and return the first such record.
        After ``timeout`` real seconds, ``TimeoutError`` lists the nearest records and the fields
        that differed. For real-HTTP delivery, which happens on a thread."""
        from . import expect

        after = filters.pop("after", None)
        expect.check_fields(filters)
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                version = self._version
                finished = [r for r in self._records if r.done and (after is None or r.id > after)]
            candidates = expect.matching(finished, filters, params)
            # the predicate runs without the inbox lock, so it may read the emulator freely
            for record in candidates:
                if predicate is None or predicate(record):
                    return record
            with self._changed:
                while self._version == version:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"no finished webhook matching {expect.wanted(filters, params, predicate)} within "
                            f"{timeout:g}s; " + expect.explain(finished, filters, params, predicate=predicate))
                    self._changed.wait(remaining)

    def assert_sent(self, kind: str | None = None, event_type: str | None = None, *, params: dict | None = None,
                    count: int | None = None, **fields) -> WebhookRecord:
        """Assert that a callback matching the criteria was sent, and return the first one.

        Criteria: ``kind``, ``event_type``, any other record field (``task_sid``, ``url``,
        ``outcome``, ``delivery``, ...) and ``params``, form fields the callback carried (a value
        may be a callable returning true). ``count``: exactly that many must match. On failure
        the ``AssertionError`` lists the nearest records and the fields that differed."""
        from . import expect

        criteria = {name: value for name, value in (("kind", kind), ("event_type", event_type)) if value is not None}
        criteria.update(fields)
        expect.check_fields(criteria)
        records = list(self)
        found = expect.matching(records, criteria, params)
        if found and (count is None or len(found) == count):
            return found[0]
        wanted = expect.wanted(criteria, params)
        if found:
            raise AssertionError(f"expected {count} webhook(s) matching {wanted}, found {len(found)}: "
                                 + "; ".join(expect.describe(r) for r in found[:10]))
        raise AssertionError(f"no webhook matching {wanted}; " + expect.explain(records, criteria, params))

    def assert_not_sent(self, kind: str | None = None, event_type: str | None = None, *, params: dict | None = None,
                        **fields) -> None:
        """Assert that no callback matching the criteria (as ``assert_sent``'s) was sent."""
        from . import expect

        criteria = {name: value for name, value in (("kind", kind), ("event_type", event_type)) if value is not None}
        criteria.update(fields)
        expect.check_fields(criteria)
        found = expect.matching(list(self), criteria, params)
        if found:
            raise AssertionError(f"expected no webhook matching {expect.wanted(criteria, params)}, found {len(found)}: "
                                 + "; ".join(expect.describe(r) for r in found[:10]))

    def __iter__(self) -> Iterator[WebhookRecord]:
        with self._changed:
            return iter(list(self._records))

    def __len__(self) -> int:
        with self._changed:
            return len(self._records)
