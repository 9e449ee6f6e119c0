"""The emulator's state: accounts, their workspaces, the clock, the SID source and one lock.

State is partitioned by AccountSid (like moto's per-account backends): another account's
workspace is simply not found. The backend assembles the engine: it hands every workspace one
``Context`` (clock, SID source, event sink, the router's work queue) and gives the clock the one
dispatcher of timers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .. import errors
from ..clock import MANUAL, Clock, Timer
from ..sids import SidSource
from . import history
from . import validation as v
from .context import Context, WorkQueue
from .router import Router
from .state import Event
from .tables import WorkspaceTables
from .workspace import QUEUE_ORDERS, TEMPLATES, Workspace

EventListener = Callable[[WorkspaceTables, Event], None]
ResetHook = Callable[[str | None], None]


@dataclass
class Origin:
    """The state a full reset returns to: the clock's start instant (None: the wall-clock second
    of each reset) and mode, and the SID source's seed."""

    start: datetime | None
    mode: str
    seed: int | str | None


class Backend:
    """Every account's TaskRouter. All access goes through ``lock`` (the clock shares it)."""

    def __init__(self, clock: Clock | None = None, seed: int | str | None = None) -> None:
        self.lock = clock.lock if clock is not None else threading.RLock()
        self.clock = clock if clock is not None else Clock(MANUAL, lock=self.lock)
        self.sids = SidSource(seed)
        self.accounts: dict[str, OrderedDict[str, Workspace]] = {}
        self._by_sid: dict[str, Workspace] = {}  # every workspace by SID (what a timer names)
        self.router = Router(WorkQueue(), self.workspace_alive)
        self.ctx = Context(self.clock, self.sids, self.publish, self.router, self.router.work)
        self._listeners: list[EventListener] = []
        self._reset_hooks: list[ResetHook] = []
        self.clock.set_dispatch(self._fire)
        self.clock.hold(lambda: [timer for ws in self._by_sid.values() for timer in ws.timers.held()])
        # a manual clock stays where it began: a reset returns there
        self.origin = Origin(self.clock.now() if self.clock.mode == MANUAL else None, self.clock.mode, seed)

    # --- events -------------------------------------------------------------------------------
    def subscribe(self, listener: EventListener) -> None:
        """Call ``listener(workspace, event)`` for every event, in order (webhooks hang here)."""
        self._listeners.append(listener)

    def publish(self, workspace: WorkspaceTables, event: Event) -> None:
        history.follow(workspace, event)  # (derived: the statistics' digest of the log)
        for listener in self._listeners:
            listener(workspace, event)

    # --- timers -------------------------------------------------------------------------------
    def _fire(self, timer: Timer) -> None:
        """A timer fell due: its workspace's registry hands it to the router (a timer of a
        workspace since deleted, or one cancelled or replaced, does nothing)."""
        ws = self._by_sid.get(timer.workspace)
        if ws is not None and ws.timers.take(timer):
            self.router.on_timer(ws, timer.kind, timer.subject)

    # --- workspaces ---------------------------------------------------------------------------
    def workspaces(self, account_sid: str) -> OrderedDict[str, Workspace]:
        return self.accounts.get(account_sid, OrderedDict())

    def get_workspace(self, account_sid: str, sid: str) -> Workspace:
        workspace = self.workspaces(account_sid).get(sid)
        if workspace is None:
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=f"/v1/Workspaces/{sid}"))
        return workspace

    def find_workspace(self, sid: str) -> Workspace | None:
        return self._by_sid.get(sid)

    def workspace_alive(self, workspace: WorkspaceTables) -> bool:
        return self._by_sid.get(workspace.sid) is workspace

    def create_workspace(self, account_sid: str, friendly_name: str, *, event_callback_url: str | None = None,
                         events_filter: str | None = None, multi_task_enabled: bool | None = None,
                         template: str | None = None, prioritize_queue_order: str | None = None) -> Workspace:
        v.friendly_name(friendly_name)
        v.within_limit("workspaces", len(self.accounts.get(account_sid, ())), f"account {account_sid}")
        template = template or "NONE"
        if template not in TEMPLATES:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Template", reason="must be NONE, FIFO or EMPTY"))
        if prioritize_queue_order is not None and prioritize_queue_order not in QUEUE_ORDERS:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="PrioritizeQueueOrder", reason="must be FIFO or LIFO"))
        workspace = Workspace(self.ctx, self.sids.sid("WS"), account_sid, friendly_name,
                              event_callback_url=event_callback_url or None, events_filter=events_filter or None,
                              multi_task_enabled=True if multi_task_enabled is None else multi_task_enabled,
                              prioritize_queue_order=prioritize_queue_order or "FIFO")
        self.add_workspace(workspace)
        workspace.emit("workspace.created")
        workspace.populate_defaults(template)
        return workspace

    def add_workspace(self, workspace: Workspace) -> None:
        self.accounts.setdefault(workspace.account_sid, OrderedDict())[workspace.sid] = workspace
        self._by_sid[workspace.sid] = workspace

    def delete_workspace(self, account_sid: str, sid: str) -> None:
        workspace = self.get_workspace(account_sid, sid)
        workspace.emit("workspace.deleted")
        self.forget_workspace(workspace)
        del self.accounts[account_sid][sid]

    def forget_workspace(self, workspace: WorkspaceTables) -> None:
        """Take a workspace out of the engine: its timers are cancelled, its queued work dropped."""
        workspace.timers.cancel_all()
        workspace.drop_derived()
        if self._by_sid.get(workspace.sid) is workspace:
            del self._by_sid[workspace.sid]

    def replace_state(self, accounts: dict[str, OrderedDict[str, Workspace]]) -> None:
        """Put ``accounts`` (workspaces built for this backend's context, e.g. from a snapshot) in
        place of every account's workspaces. The clock's timers are the caller's to replace
        (``Clock.rewind``): the old workspaces' entries go with them."""
        self.router.work.clear()
        self.accounts = accounts
        self._by_sid = {ws.sid: ws for workspaces in accounts.values() for ws in workspaces.values()}

    # --- control ------------------------------------------------------------------------------
    def on_reset(self, hook: ResetHook) -> None:
        """Call ``hook(account_sid)`` after every reset (None: a full one), under the lock."""
        self._reset_hooks.append(hook)

    def reset(self, account_sid: str | None = None) -> None:
        """The one reset (``emu.reset()`` and ``POST /_emulator/reset`` alike).

        Without ``account_sid``: back to the constructed state (``origin``): every account's
        workspaces and every timer go, the clock stands at the start instant in its mode, the SID
        source is re-seeded, and the reset hooks (the webhooks: inbox, routes, handlers) run.
        With ``account_sid``: only that account's workspaces (and, through the hooks, its
        callbacks) go; time and SIDs carry on."""
        with self.lock:
            if account_sid is None:
                for workspaces in self.accounts.values():
                    for workspace in workspaces.values():
                        self.forget_workspace(workspace)
                self.accounts.clear()
                self._by_sid.clear()
                self.router.work.clear()
                # the same clock object goes back in time (in its first mode): whatever holds it stays valid
                if self.clock.mode != self.origin.mode:
                    self.clock.set_mode(self.origin.mode)
                self.clock.reset(self.origin.start)
                if self.origin.start is None and self.origin.mode == MANUAL:
                    self.origin.start = self.clock.now()
                self.sids.reseed(self.origin.seed)
            else:
                for workspace in self.accounts.pop(account_sid, OrderedDict()).values():
                    self.forget_workspace(workspace)
            for hook in self._reset_hooks:
                hook(account_sid)
