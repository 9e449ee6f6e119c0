"""``Webhooks``: from engine events to delivered callbacks, and answers back into the engine.

Every event the engine records reaches ``Webhooks`` (it subscribes to the backend) while the
engine lock is held. There it becomes outbound callbacks: an event callback to the workspace's
``EventCallbackUrl`` (when its ``EventsFilter`` lets the type through) and, for
``reservation.created``, an assignment callback to the workflow's ``AssignmentCallbackUrl``.
Each is signed, recorded in the inbox and queued in the outbox.

``flush()`` delivers the outbox with the lock released, oldest first, and applies each
assignment answer under the lock again; what an answer causes is queued and delivered in the
same flush, so when ``flush()`` returns the state has settled. The HTTP app flushes after each
request and the clock after each timer it fires, so in-process deliveries (capture, Python
handler, WSGI) happen before the API call or ``clock.advance`` returns. Real HTTP deliveries
go to a delivery thread instead and never block the request that caused them.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from .. import errors
from ..engine import events as ev
from ..engine.state import Event
from ..engine.updates import ReservationUpdate
from . import assignment
from .delivery import WSGI, Capture, Dispatcher, Handler, RealHTTP, Result, Timeouts, Transport, destination, without_fragment
from .inbox import ASSIGNMENT, EVENT, FALLBACK_ASSIGNMENT, Inbox, WebhookRecord
from .signing import SIGNATURE_HEADER, signature

log = logging.getLogger("emulator.webhooks")

# [I] The auth token that signs callbacks of an account nobody has authenticated as (no token
# configured, no request seen yet). Receivers that validate signatures should be given the
# token their client uses; the emulator signs with it as soon as one request used it.
DEFAULT_AUTH_TOKEN = "emulator-auth-token"
DELIVERIES = ("capture", "http")
# A receiver answering 403 most often rejected the signature: it validates with another token.
SIGNATURE_REJECTED = (
    "the receiver answered 403 Forbidden: it probably rejected the X-Twilio-Signature. The callback was signed "
    "with the auth token the emulator holds for {account_sid} ({source}); give the emulator the token your "
    "application validates with: TaskRouterEmulator(auth_token=...) or credentials=..., "
    "@pytest.mark.taskrouter(auth_token=...), taskrouter_auth_token in the ini file, or serve --auth-token")
# Twilio's webhook requests identify themselves so (recorded callbacks).
USER_AGENT = "TwilioProxy/1.1"


def _transport(delivery) -> Transport:
    if isinstance(delivery, Transport):
        return delivery
    if delivery == "capture":
        return Capture()
    if delivery == "http":
        return RealHTTP()
    raise ValueError(f"delivery must be one of {DELIVERIES} or a Transport, not {delivery!r}")


class Webhooks:
    """The outbound callbacks of one backend: what is sent, how, and what came back.

    ``default_delivery`` is ``"capture"`` (record only; the test fixture's choice) or ``"http"``
    (real HTTP POSTs; the server's). ``auth_token_for(account_sid)`` gives the token that signs
    an account's callbacks (the HTTP app wires its credentials in). ``assignment_timeout`` is
    how long an assignment callback may take to answer (5 s on the real service). ``limits``
    bound real HTTP delivery (``delivery.Dispatcher``): ``workers``, ``per_destination``,
    ``backlog``, ``destination_backlog``. ``retention`` bounds the inbox (``Inbox``):
    ``max_records``, ``max_age`` (virtual seconds).
    """

    def __init__(self, backend, *, default_delivery: str = "capture",
                 auth_token_for: Callable[[str], str | None] | None = None,
                 assignment_timeout: float = assignment.ANSWER_TIMEOUT, limits: dict | None = None,
                 retention: dict | None = None) -> None:
        self.backend = backend
        retention = retention or {}
        self.inbox = Inbox(max_records=retention.get("max_records"), max_age=retention.get("max_age"),
                           now=backend.clock.now)
        self.auth_token_for = auth_token_for
        self.assignment_timeout = assignment_timeout
        self._default = self._initial_default = _transport(default_delivery)
        self._routes: list[tuple[str, Transport]] = []
        self._assignment_handler: Handler | None = None
        self._outbox: deque[WebhookRecord] = deque()
        self._ids = itertools.count(1)
        self._epoch = 0  # bumped by reset and restore: answers still in flight then are not applied
        self._flush_lock = threading.Lock()
        self._pool = Dispatcher(self._run, **(limits or {}))
        self.faults = None  # an emulator.faults.Faults: callbacks it fails are not delivered
        # The server's journal (``emulator.journal``): told of each answer applied and each
        # callback finished by a real delivery, so a restart replays them.
        self.journal = None
        self._paused = False  # replaying a journal: callbacks are recorded, not sent
        self._no_wait_thread: int | None = None
        backend.subscribe(self._on_event)
        # the backend's one reset empties the inbox too (a full one drops routes and handlers as well)
        backend.on_reset(lambda account_sid: self.reset(account_sid, settings=account_sid is None))
        backend.clock.on_settle(self.flush)

    # --- configuration (public) ---------------------------------------------------------------
    def set_default_delivery(self, delivery: str | Transport) -> None:
        """How callbacks to URLs no route covers are delivered: ``"capture"`` or ``"http"``."""
        self._default = _transport(delivery)

    def route(self, url_prefix: str, delivery: str | Transport) -> None:
        """Deliver callbacks whose URL starts with ``url_prefix`` this way (``"capture"``,
        ``"http"`` or a Transport). The longest matching prefix wins."""
        self._routes = [(p, t) for p, t in self._routes if p != url_prefix]
        self._routes.append((url_prefix, _transport(delivery)))
        self._routes.sort(key=lambda pair: len(pair[0]), reverse=True)

    def respond(self, url_prefix: str, handler: Callable[[WebhookRecord], object]) -> None:
        """Answer callbacks to URLs under ``url_prefix`` with a Python function:
        ``handler(record)`` returns None (an empty 200), a dict (a JSON 200), ``(status, body[,
        headers])`` or ``delivery.Answer``; raising means no answer (``TimeoutError``: a timeout)."""
        self.route(url_prefix, Handler(handler))

    def route_wsgi(self, url_prefix: str, app) -> None:
        """Hand callbacks to URLs under ``url_prefix`` to the WSGI application ``app`` in-process
        (a Flask or Django app's own webhook views, no socket), as real signed POSTs."""
        self.route(url_prefix, WSGI(app))

    def on_assignment(self, handler: Callable[[WebhookRecord], dict | None] | None) -> None:
        """Answer every assignment callback with ``handler(record) -> dict | None``, whatever its
        URL: a dict is the JSON answer (``{"instruction": "accept"}``), None leaves the reservation
        pending. Fallback callbacks still go by URL. ``on_assignment(None)`` removes the handler.
        Only reservations whose workflow has an ``AssignmentCallbackUrl`` get a callback."""
        self._assignment_handler = Handler(handler) if handler is not None else None

    def reset(self, account_sid: str | None = None, *, settings: bool = False) -> None:
        """Forget callbacks: every record and queued delivery (ids start again at 1), or only
        ``account_sid``'s. Answers still in flight are not applied. With ``settings``, routes,
        handlers and the default delivery go back to how they were made too."""
        with self.backend.lock:
            self._epoch += 1
            if settings:
                self._routes = []
                self._assignment_handler = None
                self._default = self._initial_default
            if account_sid is None:
                self._outbox.clear()
                self._discard_queued()
                self.inbox.clear()
                self._ids = itertools.count(1)
                return
            self._outbox = deque(r for r in self._outbox if r.account_sid != account_sid)
            self._discard_queued(lambda record: record.account_sid == account_sid)
            self.inbox.replace([r for r in self.inbox if r.account_sid != account_sid])

    # --- checkpoints ---------------------------------------------------------------------------
    def checkpoint(self) -> dict:
        """The inbox and the id counter, for a snapshot. Call it once ``wait_idle()`` has
        returned, so that no callback is half-delivered."""
        return {"records": list(self.inbox), "ids": self._ids}

    @staticmethod
    def check_checkpoint(state) -> None:
        """Raise ``ValueError`` unless ``state`` is what ``checkpoint`` returns (before anything is
        restored, so a bad snapshot changes nothing)."""
        if not isinstance(state, dict) or not isinstance(state.get("records"), list) \
                or not isinstance(state.get("ids"), itertools.count):
            raise ValueError("the webhooks checkpoint is not records and an id counter")
        for record in state["records"]:
            if not isinstance(record, WebhookRecord) or not record.well_formed():
                raise ValueError("the webhooks checkpoint holds a malformed record")

    def restore_checkpoint(self, state: dict) -> None:
        """Put back what ``checkpoint`` returned: the inbox as it was, ids continuing from there.
        Answers still in flight from before are not applied."""
        self.check_checkpoint(state)
        self._epoch += 1
        self._outbox.clear()
        self.inbox.replace(state["records"])
        self._ids = state["ids"]

    # --- events -> records (under the engine lock) ---------------------------------------------
    def _on_event(self, ws, event: Event) -> None:
        if ws.event_callback_url:
            allowed = ev.events_filter_types(ws.events_filter)
            if allowed is None or event.event_type in allowed:
                self._enqueue(EVENT, ws.event_callback_url, event, event_type=event.event_type)
        if event.event_type == "reservation.created":
            workflow = ws.workflows.get(event.get("WorkflowSid") or "")
            if workflow is not None and workflow.assignment_callback_url:
                self._enqueue(ASSIGNMENT, workflow.assignment_callback_url, event)

    def _enqueue(self, kind: str, url: str, event: Event, event_type: str | None = None) -> None:
        record = WebhookRecord(
            id=next(self._ids), kind=kind, url=url, method="POST", params=event, headers=None,
            timestamp=event.event_date, account_sid=event.account_sid, workspace_sid=event.workspace_sid,
            event_type=event_type, task_sid=event.get("TaskSid"), reservation_sid=event.get("ReservationSid"),
            render=FROM_EVENT)
        # signed now, with the account's token of now; the rest of the headers are built when read
        record._headers = self._signature(record.account_sid, url, record.params)
        self.inbox.add(record)
        self._outbox.append(record)

    def _signature(self, account_sid: str, url: str, params: dict) -> str:
        token = (self.auth_token_for(account_sid) if self.auth_token_for else None) or DEFAULT_AUTH_TOKEN
        return signature(token, without_fragment(url), params)

    def _headers(self, account_sid: str, url: str, params: dict, seed: str) -> dict:
        return _callback_headers(self._signature(account_sid, url, params), seed)


    # --- delivery -------------------------------------------------------------------------------
    def flush(self) -> None:
        """Deliver every queued callback, oldest first, with the engine lock released, applying
        assignment answers under the lock; returns when nothing is left to deliver in-process.
        Safe to call from anywhere: a nested or concurrent call leaves the work to the running one."""
        if self._paused:
            return
        while True:
            if not self._flush_lock.acquire(blocking=False):
                return
            try:
                self._drain()
            finally:
                self._flush_lock.release()
            with self.backend.lock:
                if not self._outbox:
                    return

    def _drain(self) -> None:
        while True:
            with self.backend.lock:
                if not self._outbox:
                    return
                record = self._outbox.popleft()
            transport = self._transport_for(record)
            if transport.asynchronous:
                self._submit(record, transport, self._epoch)
                continue
            self._deliver(record, transport)

    def _transport_for(self, record: WebhookRecord) -> Transport:
        if self.faults is not None:
            faulted = self.faults.take_callback(record.url)
            if faulted is not None:
                return faulted
        if record.kind == ASSIGNMENT and self._assignment_handler is not None:
            return self._assignment_handler
        for prefix, transport in self._routes:
            if record.url.startswith(prefix):
                return transport
        return self._default

    def _timeouts(self, record: WebhookRecord) -> Timeouts:
        deadline = self.assignment_timeout if record.kind != EVENT else None
        return Timeouts.for_url(record.url, deadline)

    def _deliver(self, record: WebhookRecord, transport: Transport, epoch: int | None = None,
                 undelivered: str | None = None) -> None:
        """Deliver ``record`` (or, with ``undelivered``, record why it was not sent) and apply an
        assignment callback's answer under the engine lock."""
        fields: dict = {"delivery": transport.name}
        try:
            if undelivered is not None:
                result = Result(attempts=0, error=undelivered)
            else:
                try:
                    result = transport.deliver(record, self._timeouts(record))
                except Exception as exc:  # a transport bug must not lose the record
                    log.exception("delivering webhook %s failed", record.id)
                    result = Result(attempts=1, error=f"{type(exc).__name__}: {exc}")
            fields.update(attempts=result.attempts, response=result.response(), error=result.error)
        except Exception as exc:  # never let a delivery fail the API call or the clock that caused it
            log.exception("handling webhook %s failed", record.id)
            fields["error"] = f"{type(exc).__name__}: {exc}"
            result = None
        # The answer is applied, the record finished and both journaled in one hold of the lock,
        # so a replay of the journal applies it at the same point among the other changes.
        with self.backend.lock:
            applied = None
            try:
                if record.kind != EVENT and result is not None:
                    if isinstance(transport, Capture):
                        fields["outcome"] = "captured, not answered: the reservation stays pending"
                    elif epoch is not None and epoch != self._epoch:
                        # answered after a reset or a restore: that reservation's timeline is gone
                        fields["outcome"] = "answered after a reset or restore: not applied"
                    else:
                        if self.journal is not None:
                            self.journal.catch_up()
                        applied = result
                        fields["outcome"] = self._apply_answer(record, result)
                if result is not None and result.status == 403:
                    hint = self._signature_rejected(record)
                    fields["outcome"] = f"{fields['outcome']}; {hint}" if fields.get("outcome") else hint
            except Exception as exc:
                log.exception("applying the answer to webhook %s failed", record.id)
                fields["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                self.inbox.finish(record, **fields)
                if self.journal is not None and transport.asynchronous and self.inbox.get(record.id) is record:
                    self.journal.record_done(record.id, fields, applied)

    def _signature_rejected(self, record: WebhookRecord) -> str:
        """The outcome (and a logged warning) of a 403: most often a receiver that validates
        ``X-Twilio-Signature`` with another auth token than the one the callback was signed with."""
        token = self.auth_token_for(record.account_sid) if self.auth_token_for else None
        source = ("the configured one, or else the token its last API request used" if token
                  else f"none known, so the default {DEFAULT_AUTH_TOKEN!r}")
        hint = SIGNATURE_REJECTED.format(account_sid=record.account_sid, source=source)
        log.warning("callback %s to %s: %s", record.id, record.url, hint)
        return hint

    def _apply_answer(self, record: WebhookRecord, result: Result) -> str:
        """Let an assignment callback's answer drive its reservation (under the engine lock)."""
        ws = self.backend.workspaces(record.account_sid).get(record.workspace_sid)
        reservation = ws.reservations.get(record.reservation_sid) if ws is not None else None
        if reservation is None:
            return "the reservation no longer exists"
        verdict = assignment.judge(result)
        if verdict.kind == "failed":
            if reservation.reservation_status != "pending":
                return f"{verdict.note}; the reservation is already {reservation.reservation_status}"
            workflow = ws.workflows.get(record.params.get("WorkflowSid") or "")
            fallback = workflow.fallback_assignment_callback_url if workflow is not None else None
            if record.kind == ASSIGNMENT and fallback:
                self._enqueue_fallback(record, fallback)
                return f"{verdict.note}; FallbackAssignmentCallbackUrl is tried next"
            ws.cancel_reservation(reservation)
            return f"{verdict.note}; the reservation is canceled"
        if verdict.kind != "instruction":
            return verdict.note
        try:
            ws.update_reservation(reservation, ReservationUpdate.from_form(verdict.form or []))
        except errors.TwilioError as exc:
            return f"{verdict.note} refused ({exc.message}); the reservation stays {reservation.reservation_status}"
        return f"{verdict.note}: the reservation is {reservation.reservation_status}"

    def _enqueue_fallback(self, record: WebhookRecord, url: str) -> None:
        fallback = WebhookRecord(
            id=next(self._ids), kind=FALLBACK_ASSIGNMENT, url=url, method="POST", params=dict(record.params),
            headers=self._headers(record.account_sid, url, record.params, f"{record.id}:fallback:{url}"),
            timestamp=record.timestamp, account_sid=record.account_sid, workspace_sid=record.workspace_sid,
            task_sid=record.task_sid, reservation_sid=record.reservation_sid)
        self.inbox.add(fallback)
        self._outbox.append(fallback)

    # --- the delivery pool (real HTTP) ------------------------------------------------------------
    def _submit(self, record: WebhookRecord, transport: Transport, epoch: int) -> None:
        # one task's callbacks share a lane, so they reach the receiver in order
        lane = record.task_sid or record.params.get("WorkerSid") or record.workspace_sid
        refused = self._pool.submit(destination(record.url), (record, transport, epoch), lane=lane)
        if refused is not None:
            # Kept in the inbox with the reason; an assignment callback that cannot be sent is an
            # assignment callback that got no answer (the fallback URL, then cancelation).
            log.warning("webhook %s to %s %s", record.id, record.url, refused)
            self._deliver(record, transport, epoch, undelivered=refused)

    def _run(self, item) -> None:
        record, transport, epoch = item
        self._deliver(record, transport, epoch)
        self.flush()  # what the answer caused

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait (real seconds) until every queued callback, including real HTTP deliveries on the
        delivery threads, has been delivered and its answer applied. Raises ``TimeoutError``."""
        if self._no_wait_thread == threading.get_ident():
            return
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            with self.backend.lock:
                idle = not self._outbox and self._pool.unfinished == 0
            if idle:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"webhooks still being delivered after {timeout}s")
            time.sleep(0.01)

    # --- the journal's side ---------------------------------------------------------------------
    @contextlib.contextmanager
    def as_is(self):
        """Within this block (on this thread, holding the engine lock), a snapshot takes the inbox
        as it stands instead of waiting for deliveries in progress: the journal records their
        outcome when it comes."""
        self._no_wait_thread = threading.get_ident()
        try:
            yield
        finally:
            self._no_wait_thread = None

    @contextlib.contextmanager
    def paused(self):
        """Record callbacks without sending them (while a journal is replayed)."""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False

    def replay_done(self, record_id: int, fields: dict, answer: dict | None) -> None:
        """Finish a record as the journal says it was, applying its answer again (under the lock)."""
        with self.backend.lock:
            record = self.inbox.get(record_id)
            if record is None:
                return
            if answer is not None:
                self._apply_answer(record, Result(**answer))
            self.inbox.finish(record, **fields)

    def resume_undelivered(self) -> None:
        """After a replay: send again every callback whose delivery never finished (the process
        stopped first). Receivers may see one twice; ``I-Twilio-Idempotency-Token`` is the same."""
        with self.backend.lock:
            self._outbox = deque(r for r in self.inbox if not r.done)
        self.flush()

    def _discard_queued(self, predicate=lambda record: True, reason: str = "the emulator was reset or closed") -> None:
        """Drop what waits for a delivery thread (its records stay in the inbox, undelivered)."""
        for record, _, _ in self._pool.discard(lambda item: predicate(item[0])):
            self.inbox.finish(record, error=f"not delivered: {reason}")

    def close(self, timeout: float = 1.0) -> None:
        """Stop the delivery threads: what waits is dropped (kept in the inbox with the reason);
        deliveries in progress get ``timeout`` seconds, then are abandoned and their answers ignored."""
        with self.backend.lock:
            self._epoch += 1
        for record, _, _ in self._pool.close(timeout):
            self.inbox.finish(record, error="not delivered: the emulator stopped")
        self._pool.reopen()


def _callback_headers(signed: str, seed: str) -> dict:
    digest = hashlib.sha1(seed.encode("utf-8")).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "*/*",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signed,
        # the same token on a retry lets the receiver drop duplicates
        "I-Twilio-Idempotency-Token": f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}",
    }


class _FromEvent:
    """The form fields and headers of a callback record made from an engine event, built when read
    (``WebhookRecord.render``): the event callback's fields, or the assignment callback's."""

    @staticmethod
    def params(record: WebhookRecord, event: Event) -> dict:
        params = ev.callback_params(event, event.workspace_name)
        return params if record.kind == EVENT else assignment.callback_params(params)

    @staticmethod
    def headers(record: WebhookRecord, event: Event, signed: str) -> dict:
        return _callback_headers(signed, f"{event.sid}:{record.kind}:{record.url}")


FROM_EVENT = _FromEvent()
