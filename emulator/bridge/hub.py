"""Who gets which event: the engine's events, drawn in the bridge's shapes, queued to every open
websocket session of each worker they concern, in the order the engine logged them.

Events a request causes wait until that request's HTTP reply has been written: the SDK attaches
listeners once a call resolves (``reservation.on('accepted')`` after ``accept()``), and real Event
Bridge is asynchronous, so an event pushed while the reply is still being built would be missed.
The request thread holds its events (``hold``) and hands them over when the server closes the
response (``release``); events of timers and other threads go out at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..engine import queries
from . import shapes, tokens

if TYPE_CHECKING:
    from ..engine.state import Event
    from ..engine.workspace import Workspace
    from .session import Session

TASK_EVENTS = ("task.updated", "task.canceled", "task.completed", "task.wrapup")
WORKER_EVENTS = ("worker.activity.update", "worker.attributes.update")
TURNED_AWAY = ("rejected", "timeout", "rescinded")
TRANSFER_EVENTS = ("task.transfer-initiated", "task.transfer-attempt-failed", "task.transfer-failed",
                   "task.transfer-canceled", "task.transfer-completed")
CHANNEL_EVENTS = ("worker.capacity.update", "worker.channel.availability.update")
# The reservation events the SDK handles (reservation.failed needs calls; the engine places none).
RESERVATION_EVENTS = ("reservation.created", "reservation.accepted", "reservation.rejected", "reservation.timeout",
                      "reservation.canceled", "reservation.rescinded", "reservation.completed",
                      "reservation.wrapup", "reservation.failed")

Delivery = tuple[str, str, str]  # (workspace_sid, worker_sid, frame text)


def frame(event_type: str, payload: dict) -> str:
    return json.dumps({"event_type": event_type, "payload": payload})


def deliveries(ws: "Workspace", event: "Event") -> list[Delivery]:
    """The frames one engine event becomes, each with the worker it goes to."""
    kind = event.event_type
    if kind in RESERVATION_EVENTS:
        reservation = ws.reservations.get(event.resource_sid)
        if reservation is None:
            return []
        return [(ws.sid, reservation.worker_sid, frame(kind, shapes.reservation(ws, reservation)))]
    if kind in TASK_EVENTS:
        task = ws.tasks.get(event.resource_sid)
        if task is None:
            return []
        text = frame(kind, shapes.task(ws, task))
        # every worker holding the task or offered it, or whose offer the task's own change ended
        # (a canceled task's); not those who turned it down, let it time out or lost it to another
        workers = dict.fromkeys(r.worker_sid for r in queries.reservations(ws, task_sid=task.sid)
                                if r.reservation_status not in TURNED_AWAY)
        return [(ws.sid, worker_sid, text) for worker_sid in workers]
    if kind in TRANSFER_EVENTS:
        transfer = ws.transfers.get(str(event.subjects.get("transfer")))
        if transfer is None:
            return []
        return [(ws.sid, transfer.initiating_worker_sid, frame(kind, shapes.transfer(transfer)))]
    if kind in WORKER_EVENTS:
        worker = ws.workers.get(event.resource_sid)
        return [(ws.sid, worker.sid, frame(kind, shapes.worker(ws, worker)))] if worker is not None else []
    if kind in CHANNEL_EVENTS:
        worker = ws.workers.get(event.resource_sid)
        channel = worker.channels.get(str(event.data.get("TaskChannelSid"))) if worker is not None else None
        if worker is None or channel is None:
            return []
        return [(ws.sid, worker.sid, frame(kind, shapes.worker_channel(ws, channel)))]
    return []


class Hub:
    """Open sessions by worker, and the event feed into them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], list["Session"]] = {}
        self._held = threading.local()
        # tokens whose session a newer one closed (closeExistingSessions), until they expire
        self._superseded: dict[str, float] = {}
        self.on_last_close: Callable[["Session"], None] | None = None

    # --- sessions -----------------------------------------------------------------------------
    def add(self, session: "Session", *, close_others: bool = False) -> None:
        """Open ``session``; with ``close_others`` (the SDK's closeExistingSessions) the worker's other
        sessions close. [I] A closed SDK reconnects with the token it has and the same option, which
        would close the newer session in turn, and so on; so a session opened with the token of a
        session closed this way closes no other."""
        with self._lock:
            sessions = self._sessions.setdefault(session.key, [])
            close_others = close_others and session.token not in self._superseded
            others = list(sessions) if close_others else []
            sessions.append(session)
            now = tokens.wall_clock()
            self._superseded = {t: exp for t, exp in self._superseded.items() if exp > now}
            for other in others:
                if other.token != session.token:
                    self._superseded[other.token] = other.grant.expires
        for other in others:
            other.close(reason="closeExistingSessions")

    def remove(self, session: "Session") -> bool:
        """Forget a session; True if it was its worker's last one."""
        with self._lock:
            sessions = self._sessions.get(session.key, [])
            if session in sessions:
                sessions.remove(session)
            if sessions:
                return False
            self._sessions.pop(session.key, None)
            return True

    def sessions(self, workspace_sid: str | None = None, worker_sid: str | None = None) -> list["Session"]:
        with self._lock:
            return [s for key, group in self._sessions.items() for s in group
                    if (workspace_sid is None or key[0] == workspace_sid) and (worker_sid is None or key[1] == worker_sid)]

    def close_where(self, keep_open: Callable[["Session"], bool] | None = None, *, reason: str,
                    code: int = 1000, workspace_sid: str | None = None,
                    worker_sid: str | None = None) -> list["Session"]:
        """Close the open sessions of a workspace (of a worker), or those ``keep_open`` rejects;
        returns them. Closing only signals each session's thread: safe under the engine lock."""
        found = [s for s in self.sessions(workspace_sid, worker_sid) if keep_open is None or not keep_open(s)]
        for session in found:
            session.close(reason=reason, code=code)
        return found

    # --- events -------------------------------------------------------------------------------
    def on_event(self, ws: "Workspace", event: "Event") -> None:
        """The engine's listener (called under the engine lock, in log order)."""
        if not self._sessions:
            return  # nobody listens: nothing to draw
        # [I] a deleted workspace or worker has nothing more to say to its sessions: they close
        # (an SDK that reconnects is then refused, its token naming what no longer exists)
        if event.event_type == "workspace.deleted":
            self.close_where(reason="workspace deleted", workspace_sid=ws.sid)
        elif event.event_type == "worker.deleted":
            self.close_where(reason="worker deleted", workspace_sid=ws.sid, worker_sid=event.resource_sid)
        found = deliveries(ws, event)
        if not found:
            return
        held = getattr(self._held, "items", None)
        if held is not None:
            held.extend(found)
        else:
            self._deliver(found)

    def hold(self) -> None:
        """From now on, this thread's events wait for ``release`` (the request's reply is out)."""
        leftover = getattr(self._held, "items", None)
        self._held.items = []
        if leftover:
            self._deliver(leftover)

    def release(self) -> None:
        items = getattr(self._held, "items", None)
        self._held.items = None
        if items:
            self._deliver(items)

    def _deliver(self, items: list[Delivery]) -> None:
        with self._lock:
            for workspace_sid, worker_sid, text in items:
                for session in self._sessions.get((workspace_sid, worker_sid), ()):
                    session.push(text)
