"""The engine's records: TaskRouter's resources and the routing state of each task, as plain data.

Field names follow the REST representation (snake_case); values are Python values (datetimes
are aware UTC). Records are slotted dataclasses with no behaviour: the rules live in
``workspace.py`` (configuration resources), ``lifecycle.py`` (Task and Reservation state machines)
and ``routing/``; the HTTP layer turns records into JSON in one renderer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import Any

# Task assignment statuses (https://www.twilio.com/docs/taskrouter/lifecycle-task-state)
PENDING, RESERVED, ASSIGNED, WRAPPING, COMPLETED, CANCELED = (
    "pending", "reserved", "assigned", "wrapping", "completed", "canceled")
TASK_STATUSES = (PENDING, RESERVED, ASSIGNED, CANCELED, COMPLETED, WRAPPING)
ACTIVE_TASK_STATUSES = (PENDING, RESERVED, ASSIGNED, WRAPPING)

# A task still waiting for a worker to accept it.
WAITING = (PENDING, RESERVED)
# A task a worker holds.
HELD = (ASSIGNED, WRAPPING)


class ReservationStatus:
    """Reservation statuses (https://www.twilio.com/docs/taskrouter/api/reservations)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMEOUT = "timeout"
    CANCELED = "canceled"
    RESCINDED = "rescinded"
    WRAPPING = "wrapping"
    COMPLETED = "completed"


RESERVATION_STATUSES = (ReservationStatus.PENDING, ReservationStatus.ACCEPTED, ReservationStatus.REJECTED,
                        ReservationStatus.TIMEOUT, ReservationStatus.CANCELED, ReservationStatus.RESCINDED,
                        ReservationStatus.WRAPPING, ReservationStatus.COMPLETED)


@dataclass(eq=False, slots=True)
class Activity:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    available: bool
    date_created: datetime
    date_updated: datetime


@dataclass(eq=False, slots=True)
class TaskChannel:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    unique_name: str
    channel_optimized_routing: bool | None
    date_created: datetime
    date_updated: datetime


@dataclass(eq=False, slots=True)
class TaskQueue:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    target_workers: str | None
    max_reserved_workers: int
    task_order: str
    reservation_activity_sid: str | None
    assignment_activity_sid: str | None
    date_created: datetime
    date_updated: datetime


@dataclass(eq=False, slots=True)
class WorkerChannel:
    sid: str
    account_sid: str
    workspace_sid: str
    worker_sid: str
    task_channel_sid: str
    configured_capacity: int
    available: bool
    assigned_tasks: int
    date_created: datetime
    date_updated: datetime


@dataclass(eq=False, slots=True)
class Worker:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    attributes: str
    attributes_data: dict
    activity_sid: str
    date_created: datetime
    date_updated: datetime
    date_status_changed: datetime
    version: int = 0
    # one WorkerChannel per TaskChannel of the workspace, keyed by TaskChannel SID
    channels: dict[str, WorkerChannel] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class Workflow:
    sid: str
    account_sid: str
    workspace_sid: str
    friendly_name: str
    configuration: str
    configuration_data: dict
    assignment_callback_url: str | None
    fallback_assignment_callback_url: str | None
    task_reservation_timeout: int
    date_created: datetime
    date_updated: datetime
    document_content_type: str | None = None


@dataclass(eq=False, slots=True)
class Task:
    sid: str
    account_sid: str
    workspace_sid: str
    attributes: str
    # ``attributes`` parsed; None once the task finished: derived from the text, it is parsed
    # again when read (a finished task is rarely read again, and each one is kept five minutes)
    parsed_attributes: dict | None
    assignment_status: str
    priority: int
    timeout: int
    task_channel_sid: str
    workflow_sid: str | None
    task_queue_sid: str | None
    date_created: datetime
    date_updated: datetime
    virtual_start_time: datetime
    task_queue_entered_date: datetime | None = None
    reason: str | None = None
    routing_target: str | None = None
    ignore_capacity: bool | None = None
    addons: str = "{}"
    version: int = 0
    # TaskQueueSid given at creation: the task goes straight to that queue
    requested_queue_sid: str | None = None
    # the transfer under way (the task is offered to its target meanwhile, and routed to no one else)
    transfer_sid: str | None = None

    @property
    def attributes_data(self) -> dict:
        data = self.parsed_attributes
        return json.loads(self.attributes) if data is None else data

    @attributes_data.setter
    def attributes_data(self, data: dict) -> None:
        self.parsed_attributes = data


@dataclass(eq=False, slots=True)
class Reservation:
    sid: str
    account_sid: str
    workspace_sid: str
    task_sid: str
    worker_sid: str
    reservation_status: str
    date_created: datetime
    date_updated: datetime
    # activity the worker moves to once the work is done (conference / dequeue instruction)
    post_work_activity_sid: str | None = None
    # the transfer this reservation offers (a transfer leg)
    transfer_sid: str | None = None
    # its ETag: +1 on every change of status (If-Match on reservation updates)
    version: int = 0
    # single-tasking: the activity the worker had before the queue's reservation activity
    previous_activity_sid: str | None = None
    # instructions without telephony the reservation received (dequeue's call, supervise), as data
    # (a tuple: most reservations get none, and an empty tuple is shared, where every empty list
    # would be one more object for the cyclic collector to scan as long as the reservation lives)
    instructions: tuple = ()


class TransferStatus:
    """Task transfer statuses (the Worker SDK's ``Transfer``; transfers exist only there)."""

    INITIATED = "initiated"
    FAILED = "failed"
    CANCELED = "canceled"
    COMPLETE = "complete"


@dataclass(eq=False, slots=True)
class Transfer:
    """A task handed by the worker holding it to another worker (``transfer_type`` WORKER) or
    queue (QUEUE), keeping the first worker on it (``transfer_mode`` WARM) or not (COLD)."""

    sid: str
    account_sid: str
    workspace_sid: str
    task_sid: str
    transfer_type: str
    transfer_mode: str
    transfer_to: str
    transfer_status: str
    initiating_reservation_sid: str
    initiating_worker_sid: str
    initiating_queue_sid: str | None
    initiating_workflow_sid: str | None
    date_created: datetime
    date_updated: datetime
    transfer_failed_reason: str | None = None
    # the reservation offering the task to the target
    reservation_sid: str | None = None


Position = tuple[int, int]  # (part, index) of a value among an event's parts
# A text of an event: a ``%s`` template filled from values (those marked in the third member may be
# None, which shows as ""), or with template None, one value as it is.
TextSpec = tuple[str | None, tuple[Position, ...], tuple[bool, ...]]


class EventLayout:
    """What the events of one type with the same field names share: the names of their field data
    and where each value sits among an event's parts, where its texts come from, and its type.

    An event keeps only its parts (after its SID, layout and date, from ``ORIGIN``): first its workspace's ``origin``
    (``(workspace_sid, workspace_name, account_sid)``, shared by the workspace's events while its
    name stands), then one tuple per field group of the catalogue (shared between events whose
    values are equal: a queue's, a workflow's, a worker's), then any values a text needs that the
    data does not hold. The description, resource SID and path are built from those when read: a
    workspace logs about ten events per task, and texts and a dict per event were most of what a
    finished task left behind. ``events.py`` builds layouts; a position is an index into the
    event, whose parts start at ``ORIGIN``."""

    __slots__ = ("event_type", "resource_type", "names", "positions", "texts", "actor", "subjects", "whole",
                 "flat", "description", "resource_sid", "resource_path")

    def __init__(self, event_type: str, resource_type: str, names: tuple[str, ...],
                 positions: tuple[Position, ...], *, description: TextSpec, resource_sid: TextSpec,
                 resource_path: TextSpec | None, actor: Position | None = None,
                 subjects: tuple[tuple[str, Position], ...] = (), whole: tuple[int, ...] = ()) -> None:
        self.event_type = event_type
        self.resource_type = resource_type
        self.names = names  # the data's field names, in order
        self.positions = dict(zip(names, positions, strict=True))  # name -> (part, index)
        self.texts = (description, resource_sid, resource_path)  # resource_path None: the resource was gone
        # where (actor_type, actor_sid, actor_path) start among the parts; None: the workspace
        self.actor = actor
        self.subjects = subjects  # ((subject, position of its SID), ...)
        self.whole = whole  # the parts whose every value is data (in order)
        # functions of the parts
        self.flat = _flat(positions)  # the data's values in order
        self.description = _text(description)
        self.resource_sid = _text(resource_sid)
        self.resource_path = _text(resource_path) if resource_path is not None else _nothing


def _nothing(parts: tuple) -> None:
    return None


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _text(spec: TextSpec) -> Any:
    template, sources, _ = spec
    if template is None:
        ((p, i),) = sources
        return lambda parts: parts[p][i]
    if not sources:
        return lambda parts: template
    if len(sources) == 1:
        ((p, i),) = sources
        return lambda parts: template % (_blank(parts[p][i]),)
    return lambda parts: template % tuple([_blank(parts[p][i]) for p, i in sources])


def _flat(positions: tuple[Position, ...]) -> Any:
    """A function of an event's parts giving its data values in order: the leading values of parts,
    concatenated, when the positions run through them in order (every layout ``events.py`` builds),
    else each value picked."""
    runs: list[list[int]] = []  # [part, how many of its first values], in order
    for part, index in positions:
        if runs and runs[-1][0] == part and index == runs[-1][1]:
            runs[-1][1] += 1
        elif index == 0 and all(r[0] != part for r in runs):
            runs.append([part, 1])
        else:
            return lambda parts: tuple([parts[p][i] for p, i in positions])
    slices = tuple((p, slice(0, n)) for p, n in runs)
    if len(slices) == 1:
        ((p, first),) = slices
        return lambda parts: parts[p][first]
    return lambda parts: tuple(chain.from_iterable([parts[p][n] for p, n in slices]))


# Where an event's parts start in it (after its SID, layout and date): the position of its origin.
ORIGIN = 3


class Event(tuple):
    """One entry of the Events resource, compact (see ``EventLayout``): a tuple of its SID, layout,
    date and parts (the parts inline: no second object per event). The fields of the Events
    resource and the callback are properties built when read; ``data`` builds the field data's dict
    (the callback's PascalCase fields) and ``get`` reads one field. Events compare by identity."""

    __slots__ = ()

    def __new__(cls, sid: str, layout: EventLayout, event_date: datetime, parts: tuple | list) -> "Event":
        return tuple.__new__(cls, (sid, layout, event_date, *parts))

    def __getnewargs__(self) -> tuple:
        return (self[0], self[1], self[2], self[ORIGIN:])

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    @property
    def sid(self) -> str:
        return self[0]

    @property
    def layout(self) -> EventLayout:
        return self[1]

    @property
    def event_date(self) -> datetime:
        return self[2]

    @property
    def account_sid(self) -> str:
        return self[ORIGIN][2]

    @property
    def workspace_sid(self) -> str:
        return self[ORIGIN][0]

    @property
    def workspace_name(self) -> str:
        """The workspace's name when the event was logged."""
        return self[ORIGIN][1]

    @property
    def event_type(self) -> str:
        return self[1].event_type

    @property
    def resource_type(self) -> str:
        return self[1].resource_type

    @property
    def description(self) -> str:
        return self[1].description(self)

    @property
    def resource_sid(self) -> str:
        return self[1].resource_sid(self)

    @property
    def resource_path(self) -> str | None:
        return self[1].resource_path(self)

    @property
    def actor_type(self) -> str:
        at = self[1].actor
        return "workspace" if at is None else self[at[0]][at[1]]

    @property
    def actor_sid(self) -> str:
        at = self[1].actor
        return self[ORIGIN][0] if at is None else self[at[0]][at[1] + 1]

    @property
    def actor_path(self) -> str | None:
        at = self[1].actor
        return "" if at is None else self[at[0]][at[1] + 2]

    @property
    def values(self) -> tuple:
        """The field data's values, in the order of ``layout.names``."""
        return self[1].flat(self)

    @property
    def data(self) -> dict:
        layout = self[1]
        return dict(zip(layout.names, layout.flat(self), strict=True))

    @property
    def subjects(self) -> dict:
        """The SIDs of what the event is about, by subject (``task``, ``reservation``, ``worker``,
        ``queue``, ``workflow``, ``transfer``...)."""
        found = {}
        for name, (p, i) in self[1].subjects:
            value = self[p][i]
            if value:
                found[name] = value
        return found

    def get(self, name: str, default: Any = None) -> Any:
        """One field of the data, or ``default``."""
        at = self[1].positions.get(name)
        return default if at is None else self[at[0]][at[1]]


@dataclass(eq=False, slots=True)
class Route:
    """Where a task is in its routing: the targets it walks (``workflow_config.Target``) and the
    current step. ``filter_index`` is the position of the matched filter in the workflow
    configuration (-1: the default filter); ``worker_sid`` is set when RoutingTarget is a worker."""

    targets: list[Any]
    workflow_sid: str | None = None
    filter_name: str | None = None
    index: int = 0
    worker_sid: str | None = None
    filter_index: int | None = None


@dataclass(eq=False, slots=True)
class TaskRouting:
    """A task's routing state: its route, the workers passed over for it and its reservation attempts."""

    route: Route | None = None
    excluded: set[str] = field(default_factory=set)  # workers passed over for good (unreachable callbacks)
    attempts: int = 0  # pending -> reserved transitions
    # workers whose offer of this round ended unaccepted (rejected, timed out): not offered the task
    # again while its other offers are out; once it is pending again they may be (each round counts
    # towards the 1,000-attempt cancel). Not kept in snapshots: a round is short.
    declined: set[str] = field(default_factory=set)
