"""The engine's records: TaskRouter's resources and the routing state of each task, as plain data.

Field names follow the REST representation (snake_case); values are Python values (datetimes
are aware UTC). Records are slotted dataclasses with no behaviour: the rules live in
``workspace.py`` (configuration resources), ``lifecycle.py`` (Task and Reservation state machines)
and ``routing/``; the HTTP layer turns records into JSON in one renderer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
    attributes_data: dict
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


class EventShape:
    """The field names of an event's data, in order, shared by every event with the same names.

    An event keeps only its values (a tuple); a workspace logs about ten events per task, and a
    dict per event was most of what a finished task left behind."""

    __slots__ = ("names", "positions")

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self.names = names
        self.positions = {name: i for i, name in enumerate(names)}


_SHAPES: dict[tuple[str, ...], EventShape] = {}


def event_shape(names: tuple[str, ...]) -> EventShape:
    """The one shared ``EventShape`` of these field names."""
    shape = _SHAPES.get(names)
    if shape is None:
        shape = _SHAPES.setdefault(names, EventShape(names))
    return shape


@dataclass(eq=False, slots=True)
class Event:
    """One entry of the Events resource. Its field data (the callback's PascalCase fields) is
    ``values`` under the names of ``shape``; ``data`` builds the dict when it is rendered and
    ``get`` reads one field."""

    sid: str
    account_sid: str
    workspace_sid: str
    event_type: str
    description: str
    resource_type: str
    resource_sid: str
    resource_path: str | None
    actor_type: str
    actor_sid: str
    actor_path: str | None
    event_date: datetime
    shape: EventShape = field(default_factory=EventShape)
    values: tuple = ()
    # the SIDs of what the event is about, by subject ("task", "reservation", "worker", "queue",
    # ...): kept compact the same way, ``subjects`` builds the dict
    subject_shape: EventShape = field(default_factory=EventShape)
    subject_values: tuple = ()

    @property
    def data(self) -> dict:
        return dict(zip(self.shape.names, self.values, strict=True))

    @data.setter
    def data(self, data: dict) -> None:  # (a snapshot written before events were compact)
        self.shape = event_shape(tuple(data))
        self.values = tuple(data.values())

    @property
    def subjects(self) -> dict:
        return dict(zip(self.subject_shape.names, self.subject_values, strict=True))

    @subjects.setter
    def subjects(self, subjects: dict) -> None:
        self.subject_shape = event_shape(tuple(subjects))
        self.subject_values = tuple(subjects.values())

    def get(self, name: str, default: Any = None) -> Any:
        """One field of the data, or ``default``."""
        i = self.shape.positions.get(name)
        return default if i is None else self.values[i]


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
