"""A Workspace and everything inside it: the business rules of TaskRouter's REST resources.

Each public method is one API action (create / update / delete of a resource, or a query) and
raises the service's errors from ``emulator.errors``. Methods run under the backend lock; they
either change state completely or raise before changing anything (validate first, then apply).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from .. import errors
from ..sids import is_sid
from . import events as ev
from . import validation as v
from .expressions import parse as parse_expression
from .models import (
    ACTIVE_TASK_STATUSES,
    ASSIGNED,
    CANCELED,
    COMPLETED,
    PENDING,
    RESERVED,
    WRAPPING,
    Activity,
    Event,
    Reservation,
    Task,
    TaskChannel,
    TaskQueue,
    Worker,
    WorkerChannel,
    Workflow,
)
from .workflow_config import WorkflowConfiguration

if TYPE_CHECKING:
    from .backend import Backend

# Workspace creation defaults (https://www.twilio.com/docs/taskrouter/api/activity: "TaskRouter
# pre-populates new Workspaces with Offline, Unavailable and Available"; the order is the one a
# recorded real response lists them in).
DEFAULT_ACTIVITIES = (("Offline", False), ("Available", True), ("Unavailable", False))
# https://www.twilio.com/docs/taskrouter/multitasking: channels every workspace starts with.
DEFAULT_TASK_CHANNELS = (("Default", "default"), ("Voice", "voice"), ("SMS", "sms"), ("Chat", "chat"),
                         ("Video", "video"))
TEMPLATES = ("NONE", "FIFO")
QUEUE_ORDERS = ("FIFO", "LIFO")
# Names the FIFO template uses in the real console and SDK fixtures [O].
FIFO_QUEUE_NAME = "Sample Queue"
FIFO_WORKFLOW_NAME = "Default Fifo Workflow"

TASK_TIMEOUT_DEFAULT = 86_400
TASK_TIMEOUT_MAX = 1_209_600
PRIORITY_MAX = 2_147_483_647
RESERVATION_TIMEOUT_DEFAULT = 120
RESERVATION_TIMEOUT_MAX = 86_400
MAX_RESERVED_WORKERS_MAX = 50
# [I] no documented upper bound for a worker channel's capacity; 50 matches the console's limit.
CHANNEL_CAPACITY_MAX = 50
# Finished tasks disappear "five minutes" after they end (https://www.twilio.com/docs/taskrouter/lifecycle-task-state).
FINISHED_TASK_RETENTION = 300


class Workspace:
    """One Workspace with its Activities, TaskChannels, TaskQueues, Workers, Workflows, Tasks,
    Reservations and Events."""

    def __init__(self, backend: "Backend", sid: str, account_sid: str, friendly_name: str, *,
                 event_callback_url: str | None = None, events_filter: str | None = None,
                 multi_task_enabled: bool = True, prioritize_queue_order: str = "FIFO") -> None:
        self.backend = backend
        now = backend.clock.now()
        self.sid = sid
        self.account_sid = account_sid
        self.friendly_name = friendly_name
        self.event_callback_url = event_callback_url
        self.events_filter = events_filter
        self.multi_task_enabled = multi_task_enabled
        self.prioritize_queue_order = prioritize_queue_order
        self.date_created = now
        self.date_updated = now
        self.default_activity_sid: str = ""
        self.timeout_activity_sid: str = ""
        self.activities: OrderedDict[str, Activity] = OrderedDict()
        self.task_channels: OrderedDict[str, TaskChannel] = OrderedDict()
        self.task_queues: OrderedDict[str, TaskQueue] = OrderedDict()
        self.workers: OrderedDict[str, Worker] = OrderedDict()
        self.workflows: OrderedDict[str, Workflow] = OrderedDict()
        self.tasks: OrderedDict[str, Task] = OrderedDict()
        self.reservations: OrderedDict[str, Reservation] = OrderedDict()
        self.events: OrderedDict[str, Event] = OrderedDict()
        # parsed TargetWorkers of each queue and parsed configuration of each workflow
        self.queue_expressions: dict = {}
        self.workflow_configurations: dict[str, WorkflowConfiguration] = {}
        self._deletion_timers: dict = {}

    # --- helpers ----------------------------------------------------------------------------
    @property
    def clock(self):
        return self.backend.clock

    def now(self) -> datetime:
        return self.backend.clock.now()

    def new_sid(self, prefix: str) -> str:
        return self.backend.sids.sid(prefix)

    def task_age(self, task: Task) -> int:
        return max(0, int((self.now() - task.date_created).total_seconds()))

    def channel_available_capacity_percentage(self, channel: WorkerChannel) -> int:
        """``floor((1 - busy / configured_capacity) * 100)`` where busy counts pending, accepted
        and wrapping reservations (https://www.twilio.com/docs/taskrouter/multitasking)."""
        if channel.configured_capacity <= 0:
            return 0
        busy = self.channel_load(channel)
        return max(0, (100 * (channel.configured_capacity - busy)) // channel.configured_capacity)

    def channel_load(self, channel: WorkerChannel) -> int:
        # the router indexes each worker's live reservations
        return self.backend.router.channel_load(self, channel)

    def record(self, event_type: str, description: str, resource_type: str, resource_sid: str,
               resource_path: str | None, data: dict) -> Event:
        """Log an event in the Events resource and hand it to the backend's outbox."""
        event = Event(
            sid=self.new_sid("EV"), account_sid=self.account_sid, workspace_sid=self.sid,
            event_type=event_type, description=description, resource_type=resource_type,
            resource_sid=resource_sid, resource_path=resource_path,
            actor_type="workspace", actor_sid=self.sid, actor_path="",
            event_date=self.now(),
            data={"WorkspaceSid": self.sid, "WorkspaceName": self.friendly_name, **data})
        self.events[event.sid] = event
        self.backend.publish(self, event)
        return event

    def _name_taken(self, items: Iterable, name: str, attr: str = "friendly_name", *, casefold: bool,
                    exclude=None) -> bool:
        key = name.casefold() if casefold else name
        for item in items:
            if item is exclude:
                continue
            other = getattr(item, attr)
            if (other.casefold() if casefold else other) == key:
                return True
        return False

    def _taken_message(self, template: str, name: str) -> str:
        return template.format(name=name, workspace_sid=self.sid, account_sid=self.account_sid)

    # --- workspace ----------------------------------------------------------------------------
    def populate_defaults(self, template: str) -> None:
        """Create the default activities and task channels, and the FIFO template's queue and workflow."""
        for name, available in DEFAULT_ACTIVITIES:
            self.create_activity(name, available, emit=False)
        offline = next(iter(self.activities))
        self.default_activity_sid = offline
        self.timeout_activity_sid = offline
        for friendly, unique in DEFAULT_TASK_CHANNELS:
            self.create_task_channel(friendly, unique, None, emit=False)
        if template == "FIFO":
            queue = self.create_task_queue(FIFO_QUEUE_NAME, target_workers="1==1")
            config = json.dumps({"task_routing": {"default_filter": {"queue": queue.sid}}})
            self.create_workflow(FIFO_WORKFLOW_NAME, config, task_reservation_timeout=RESERVATION_TIMEOUT_DEFAULT)

    def update(self, *, friendly_name=None, event_callback_url=None, events_filter=None,
               multi_task_enabled=None, default_activity_sid=None, timeout_activity_sid=None,
               prioritize_queue_order=None) -> None:
        if friendly_name is not None:
            v.friendly_name(friendly_name)
        for name, sid in (("DefaultActivitySid", default_activity_sid), ("TimeoutActivitySid", timeout_activity_sid)):
            if sid is not None:
                self.activity_param(sid, name)
        if prioritize_queue_order is not None and prioritize_queue_order not in QUEUE_ORDERS:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="PrioritizeQueueOrder", reason="must be FIFO or LIFO"))
        if friendly_name is not None:
            self.friendly_name = friendly_name
        if event_callback_url is not None:
            self.event_callback_url = event_callback_url or None
        if events_filter is not None:
            self.events_filter = events_filter or None
        if multi_task_enabled is not None:
            # Twilio asks that workspaces stay multitasking but legacy projects may switch;
            # the emulator allows both so single-tasking behaviour can be tested.
            self.multi_task_enabled = multi_task_enabled
        if default_activity_sid is not None:
            self.default_activity_sid = default_activity_sid
        if timeout_activity_sid is not None:
            self.timeout_activity_sid = timeout_activity_sid
        if prioritize_queue_order is not None:
            self.prioritize_queue_order = prioritize_queue_order
        self.date_updated = self.now()
        self.record("workspace.updated", f"Workspace {self.friendly_name} updated", "workspace", self.sid, "",
                    {})
        if multi_task_enabled is not None:
            # capacity rules changed for every worker: some may take more work now
            self.backend.router.invalidate(self)
            for worker in list(self.workers.values()):
                self.backend.router.worker_changed(self, worker)

    # --- activities ---------------------------------------------------------------------------
    def activity_param(self, sid: str, name: str) -> Activity:
        """The activity named by a parameter, or 400 (a SID parameter that names nothing)."""
        activity = self.activities.get(sid)
        if activity is None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"Activity {sid} does not exist in workspace {self.sid}"))
        return activity

    def get_activity(self, sid: str) -> Activity:
        return self._get(self.activities, sid)

    def create_activity(self, friendly_name: str, available: bool = False, *, emit: bool = True) -> Activity:
        v.friendly_name(friendly_name)
        if len(self.activities) >= v.ACTIVITY_LIMIT:
            raise errors.InvalidParameter(errors.ACTIVITY_LIMIT.format(limit=v.ACTIVITY_LIMIT, workspace_sid=self.sid))
        # [I] activity names are unique per workspace (case-insensitive, like worker names):
        # statistics are keyed by them.
        if self._name_taken(self.activities.values(), friendly_name, casefold=True):
            raise errors.InvalidParameter(self._taken_message(errors.ACTIVITY_NAME_TAKEN, friendly_name))
        now = self.now()
        activity = Activity(self.new_sid("WA"), self.account_sid, self.sid, friendly_name, bool(available), now, now)
        self.activities[activity.sid] = activity
        if emit:
            self.record("activity.created", f"Activity {friendly_name} created", "activity", activity.sid,
                        f"Activities/{activity.sid}", ev.activity_fields(activity))
        return activity

    def update_activity(self, sid: str, friendly_name: str | None, available: str | None = None) -> Activity:
        activity = self.get_activity(sid)
        if available is not None:
            # "The value cannot be changed after the Activity is created" (https://www.twilio.com/docs/taskrouter/api/activity)
            raise errors.InvalidParameter(errors.ACTIVITY_AVAILABLE_IMMUTABLE)
        if friendly_name is not None:
            v.friendly_name(friendly_name)
            if self._name_taken(self.activities.values(), friendly_name, casefold=True, exclude=activity):
                raise errors.InvalidParameter(self._taken_message(errors.ACTIVITY_NAME_TAKEN, friendly_name))
            activity.friendly_name = friendly_name
            self.backend.router.invalidate(self)  # TargetWorkers may read activity_name
        activity.date_updated = self.now()
        self.record("activity.updated", f"Activity {activity.friendly_name} updated", "activity", activity.sid,
                    f"Activities/{activity.sid}", ev.activity_fields(activity))
        if friendly_name is not None:
            # its workers may now match queues (activity_name == '...') they did not before
            for worker in [w for w in self.workers.values() if w.activity_sid == activity.sid]:
                self.backend.router.worker_changed(self, worker)
        return activity

    def delete_activity(self, sid: str) -> None:
        activity = self.get_activity(sid)
        # [I] the docs are silent; deleting an activity something still points at would leave
        # a worker or the workspace in no activity, so it is refused.
        reason = None
        if sid == self.default_activity_sid:
            reason = "the workspace's default activity"
        elif sid == self.timeout_activity_sid:
            reason = "the workspace's timeout activity"
        elif any(w.activity_sid == sid for w in self.workers.values()):
            reason = "the current activity of one or more Workers"
        elif any(sid in (q.reservation_activity_sid, q.assignment_activity_sid) for q in self.task_queues.values()):
            reason = "used by one or more TaskQueues"
        if reason:
            raise errors.InvalidParameter(errors.ACTIVITY_IN_USE.format(sid=sid, reason=reason))
        del self.activities[sid]
        self.record("activity.deleted", f"Activity {activity.friendly_name} deleted", "activity", sid, None,
                    ev.activity_fields(activity))

    # --- task channels ------------------------------------------------------------------------
    def get_task_channel(self, sid_or_name: str) -> TaskChannel:
        """By SID or unique name (the API accepts both)."""
        channel = self.task_channels.get(sid_or_name)
        if channel is None:
            channel = next((c for c in self.task_channels.values() if c.unique_name == sid_or_name), None)
        if channel is None:
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                path=f"/v1/Workspaces/{self.sid}/TaskChannels/{sid_or_name}"))
        return channel

    def task_channel_param(self, sid_or_name: str, name: str = "TaskChannel") -> TaskChannel:
        try:
            return self.get_task_channel(sid_or_name)
        except errors.NotFound:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"TaskChannel {sid_or_name} does not exist in workspace {self.sid}")) from None

    def create_task_channel(self, friendly_name: str, unique_name: str, channel_optimized_routing: bool | None,
                            *, emit: bool = True) -> TaskChannel:
        v.friendly_name(friendly_name)
        if not v.TASK_CHANNEL_UNIQUE_NAME.match(unique_name or ""):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="UniqueName", reason="must start with a letter, _ or $ and contain only letters, digits, _ and $"))
        if self._name_taken(self.task_channels.values(), unique_name, "unique_name", casefold=False):
            raise errors.InvalidParameter(self._taken_message(errors.TASK_CHANNEL_NAME_TAKEN, unique_name))
        now = self.now()
        channel = TaskChannel(self.new_sid("TC"), self.account_sid, self.sid, friendly_name, unique_name,
                              bool(channel_optimized_routing), now, now)
        self.task_channels[channel.sid] = channel
        for worker in self.workers.values():
            self._add_worker_channel(worker, channel)
        self.backend.router.invalidate(self)
        if emit:
            self.record("task-channel.created", f"TaskChannel {unique_name} created", "taskchannel", channel.sid,
                        f"TaskChannels/{channel.sid}", ev.task_channel_fields(channel))
        return channel

    def update_task_channel(self, sid_or_name: str, friendly_name: str | None,
                            channel_optimized_routing: bool | None) -> TaskChannel:
        channel = self.get_task_channel(sid_or_name)
        if friendly_name is not None:
            v.friendly_name(friendly_name)
            channel.friendly_name = friendly_name
        if channel_optimized_routing is not None:
            channel.channel_optimized_routing = channel_optimized_routing
        channel.date_updated = self.now()
        self.record("task-channel.updated", f"TaskChannel {channel.unique_name} updated", "taskchannel",
                    channel.sid, f"TaskChannels/{channel.sid}", ev.task_channel_fields(channel))
        return channel

    def delete_task_channel(self, sid_or_name: str) -> None:
        channel = self.get_task_channel(sid_or_name)
        # [I] a channel that active tasks belong to cannot go away under them.
        if any(t.task_channel_sid == channel.sid and t.assignment_status in ACTIVE_TASK_STATUSES
               for t in self.tasks.values()):
            raise errors.InvalidParameter(errors.TASK_CHANNEL_IN_USE.format(
                sid=channel.sid, reason="active Tasks belong to it"))
        del self.task_channels[channel.sid]
        for worker in self.workers.values():
            worker.channels.pop(channel.sid, None)
        self.backend.router.invalidate(self)
        self.record("task-channel.deleted", f"TaskChannel {channel.unique_name} deleted", "taskchannel",
                    channel.sid, None, ev.task_channel_fields(channel))

    # --- task queues --------------------------------------------------------------------------
    def get_task_queue(self, sid: str) -> TaskQueue:
        return self._get(self.task_queues, sid)

    def _check_queue_fields(self, queue: TaskQueue | None, friendly_name, max_reserved_workers, task_order,
                            reservation_activity_sid, assignment_activity_sid) -> None:
        """The rules TaskQueue create and update share (``queue`` is None on create)."""
        if friendly_name is not None:
            v.friendly_name(friendly_name)
            if self._name_taken(self.task_queues.values(), friendly_name, casefold=False, exclude=queue):
                raise errors.InvalidParameter(self._taken_message(errors.QUEUE_NAME_TAKEN, friendly_name))
        if max_reserved_workers is not None:
            v.integer_range("MaxReservedWorkers", max_reserved_workers, 1, MAX_RESERVED_WORKERS_MAX)
        if task_order is not None and task_order not in QUEUE_ORDERS:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="TaskOrder", reason="must be FIFO or LIFO"))
        for sid, name in ((reservation_activity_sid, "ReservationActivitySid"),
                          (assignment_activity_sid, "AssignmentActivitySid")):
            if sid:
                self.activity_param(sid, name)

    def create_task_queue(self, friendly_name: str, *, target_workers: str | None = None,
                          max_reserved_workers: int | None = None, task_order: str | None = None,
                          reservation_activity_sid: str | None = None,
                          assignment_activity_sid: str | None = None) -> TaskQueue:
        if friendly_name is None:
            raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name="FriendlyName"))
        self._check_queue_fields(None, friendly_name, max_reserved_workers, task_order, reservation_activity_sid,
                                 assignment_activity_sid)
        expression = self._parse_target_workers(target_workers)
        now = self.now()
        queue = TaskQueue(self.new_sid("WQ"), self.account_sid, self.sid, friendly_name, target_workers,
                          max_reserved_workers or 1, task_order or "FIFO",
                          reservation_activity_sid, assignment_activity_sid, now, now)
        self.task_queues[queue.sid] = queue
        self.queue_expressions[queue.sid] = expression
        self.backend.router.queue_changed(self, queue)
        self.record("task-queue.created", f"TaskQueue {friendly_name} created", "taskqueue", queue.sid,
                    f"TaskQueues/{queue.sid}", {**ev.task_queue_fields(queue),
                                                "OperatingUnitSid": ev.OPERATING_UNIT_SID})
        return queue

    def _parse_target_workers(self, text: str | None):
        # An unset TargetWorkers behaves as the documented default ``1==1``; the resource
        # still shows null, as real list responses do.
        return parse_expression(text if text is not None and text.strip() else "1==1")

    def update_task_queue(self, sid: str, *, friendly_name=None, target_workers=None, max_reserved_workers=None,
                          task_order=None, reservation_activity_sid=None, assignment_activity_sid=None) -> TaskQueue:
        queue = self.get_task_queue(sid)
        self._check_queue_fields(queue, friendly_name, max_reserved_workers, task_order, reservation_activity_sid,
                                 assignment_activity_sid)
        expression = self._parse_target_workers(target_workers) if target_workers is not None else None
        if friendly_name is not None:
            queue.friendly_name = friendly_name
        if max_reserved_workers is not None:
            queue.max_reserved_workers = max_reserved_workers
        if task_order is not None:
            queue.task_order = task_order
        if reservation_activity_sid is not None:
            queue.reservation_activity_sid = reservation_activity_sid
        if assignment_activity_sid is not None:
            queue.assignment_activity_sid = assignment_activity_sid
        queue.date_updated = self.now()
        if expression is not None:
            queue.target_workers = target_workers
            self.queue_expressions[queue.sid] = expression
            self.record("task-queue.expression.updated", f"TaskQueue {queue.friendly_name} expression updated",
                        "taskqueue", queue.sid, f"TaskQueues/{queue.sid}",
                        {"TaskQueueSid": queue.sid, "TaskQueueTargetExpression": queue.target_workers})
        if expression is not None or max_reserved_workers is not None or task_order is not None:
            self.backend.router.queue_changed(self, queue)
        return queue

    def delete_task_queue(self, sid: str) -> None:
        queue = self.get_task_queue(sid)
        # "You can't delete a TaskQueue while Tasks are still routed to it"
        # (https://www.twilio.com/docs/taskrouter/api/task-queue).
        if any(t.task_queue_sid == sid and t.assignment_status in ACTIVE_TASK_STATUSES for t in self.tasks.values()):
            raise errors.InvalidParameter(errors.QUEUE_IN_USE.format(sid=sid, reason="Tasks are still routed to it"))
        using = [w.friendly_name for w in self.workflows.values()
                 if sid in self.workflow_configurations[w.sid].queue_sids()]
        if using:
            raise errors.InvalidParameter(errors.QUEUE_IN_USE.format(
                sid=sid, reason=f"Workflow {using[0]} routes to it"))
        del self.task_queues[sid]
        self.queue_expressions.pop(sid, None)
        self.backend.router.queue_removed(self, sid)
        self.record("task-queue.deleted", f"TaskQueue {queue.friendly_name} deleted", "taskqueue", sid, None,
                    ev.task_queue_fields(queue))

    def queue_matches_worker(self, queue: TaskQueue, worker: Worker) -> bool:
        """Whether ``worker`` belongs to ``queue`` (its TargetWorkers matches the worker's attributes)."""
        return bool(self.queue_expressions[queue.sid].evaluate(self.worker_document(worker)))

    def worker_document(self, worker: Worker) -> dict:
        """What a worker-attribute expression sees: the attributes plus the worker fields the
        list filter ``TargetWorkersExpression`` may use (https://www.twilio.com/docs/taskrouter/api/worker)."""
        activity = self.activities.get(worker.activity_sid)
        doc = dict(worker.attributes_data)
        doc.setdefault("sid", worker.sid)
        doc.setdefault("friendly_name", worker.friendly_name)
        doc.setdefault("activity_sid", worker.activity_sid)
        doc.setdefault("activity_name", activity.friendly_name if activity else None)
        return doc

    # --- workers ------------------------------------------------------------------------------
    def get_worker(self, sid: str) -> Worker:
        return self._get(self.workers, sid)

    def create_worker(self, friendly_name: str, *, activity_sid: str | None = None,
                      attributes: str | None = None) -> Worker:
        v.friendly_name(friendly_name)
        # "Friendly names are case insensitive, and unique within the TaskRouter Workspace"
        # (https://www.twilio.com/docs/taskrouter/api/worker).
        if self._name_taken(self.workers.values(), friendly_name, casefold=True):
            raise errors.InvalidParameter(self._taken_message(errors.WORKER_NAME_TAKEN, friendly_name))
        text, data = v.json_object("Attributes", attributes if attributes is not None else "{}")
        activity = self.activity_param(activity_sid, "ActivitySid") if activity_sid else \
            self.activities[self.default_activity_sid]
        now = self.now()
        worker = Worker(self.new_sid("WK"), self.account_sid, self.sid, friendly_name, text, data, activity.sid,
                        now, now, now)
        for channel in self.task_channels.values():
            self._add_worker_channel(worker, channel)
        self.workers[worker.sid] = worker
        self.record("worker.created", f"Worker {friendly_name} created", "worker", worker.sid,
                    f"Workers/{worker.sid}", ev.worker_fields(self, worker))
        self.backend.router.worker_changed(self, worker)
        return worker

    def _add_worker_channel(self, worker: Worker, channel: TaskChannel) -> None:
        now = self.now()
        # [I] the default configured capacity of a new worker channel is not documented; 1.
        worker.channels[channel.sid] = WorkerChannel(self.new_sid("WC"), self.account_sid, self.sid, worker.sid,
                                                     channel.sid, 1, True, 0, now, now)

    def check_version(self, resource, if_match: str | None, kind: str) -> None:
        """``If-Match`` against the resource's ``ETag`` (https://www.twilio.com/docs/usage/mutation-and-conflict-resolution)."""
        if if_match is None:
            return
        given = if_match.strip()
        if given.startswith("W/"):
            given = given[2:]
        given = given.strip('"')
        if given != "*" and given != str(resource.version):
            raise errors.PreconditionFailed(errors.TASK_ETAG_MISMATCH.format(
                given=if_match, current=resource.version, task_sid=resource.sid).replace("Task", kind, 1))

    def update_worker(self, sid: str, *, activity_sid=None, attributes=None, friendly_name=None,
                      reject_pending_reservations=None, if_match=None) -> Worker:
        worker = self.get_worker(sid)
        self.check_version(worker, if_match, "Worker")
        activity = self.activity_param(activity_sid, "ActivitySid") if activity_sid is not None else None
        parsed = v.json_object("Attributes", attributes) if attributes is not None else None
        if friendly_name is not None:
            v.friendly_name(friendly_name)
            if self._name_taken(self.workers.values(), friendly_name, casefold=True, exclude=worker):
                raise errors.InvalidParameter(self._taken_message(errors.WORKER_NAME_TAKEN, friendly_name))
        if reject_pending_reservations and (activity is None or activity.available):
            # "only valid when the new activity is unavailable" (https://www.twilio.com/docs/taskrouter/api/worker)
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="RejectPendingReservations", reason="can only be used when changing to an unavailable Activity"))
        now = self.now()
        changed = False
        if friendly_name is not None and friendly_name != worker.friendly_name:
            worker.friendly_name = friendly_name
            changed = True
        if parsed is not None:
            worker.attributes, worker.attributes_data = parsed
            worker.version += 1
            worker.date_updated = now
            changed = False
            self.record("worker.attributes.update", f"Worker {worker.friendly_name} attributes updated", "worker",
                        worker.sid, f"Workers/{worker.sid}", ev.worker_fields(self, worker))
        if activity is not None and activity.sid != worker.activity_sid:
            if reject_pending_reservations:
                self.backend.router.reject_pending_reservations(self, worker, activity.sid)
            self.set_worker_activity(worker, activity.sid)
        elif changed:
            worker.version += 1
            worker.date_updated = now
        if parsed is not None or friendly_name is not None:
            # new attributes (or name) may put the worker in other queues
            self.backend.router.worker_changed(self, worker)
        return worker

    def set_worker_activity(self, worker: Worker, activity_sid: str) -> None:
        """Move a worker to another activity and log ``worker.activity.update`` with the previous-activity
        extras of the Events reference."""
        previous = self.activities.get(worker.activity_sid)
        now = self.now()
        elapsed = now - worker.date_status_changed
        worker.activity_sid = activity_sid
        worker.date_status_changed = now
        worker.date_updated = now
        worker.version += 1
        activity = self.activities[activity_sid]
        ms = int(elapsed.total_seconds() * 1000)
        self.record("worker.activity.update", f"Worker {worker.friendly_name} updated to {activity.friendly_name} Activity",
                    "worker", worker.sid, f"Workers/{worker.sid}", {
                        **ev.worker_fields(self, worker),
                        "WorkerTimeInPreviousActivity": ms // 1000,
                        "WorkerTimeInPreviousActivityMs": ms,
                        "WorkerPreviousActivitySid": previous.sid if previous else None,
                        "WorkerPreviousActivityName": previous.friendly_name if previous else None,
                    })
        self.backend.router.worker_changed(self, worker)

    def delete_worker(self, sid: str, if_match: str | None = None) -> None:
        worker = self.get_worker(sid)
        self.check_version(worker, if_match, "Worker")
        # [I] undocumented: deletion is allowed; the worker's pending reservations are canceled.
        self.backend.router.worker_removed(self, worker)
        del self.workers[sid]
        self.record("worker.deleted", f"Worker {worker.friendly_name} deleted", "worker", sid, None,
                    ev.worker_fields(self, worker))

    def worker_available(self, worker: Worker) -> bool:
        activity = self.activities.get(worker.activity_sid)
        return bool(activity and activity.available)

    # --- worker channels ------------------------------------------------------------------------
    def get_worker_channel(self, worker: Worker, sid_or_name: str) -> WorkerChannel:
        """By WorkerChannel SID, TaskChannel SID or TaskChannel unique name."""
        for channel in worker.channels.values():
            task_channel = self.task_channels.get(channel.task_channel_sid)
            if sid_or_name in (channel.sid, channel.task_channel_sid) or (
                    task_channel is not None and task_channel.unique_name == sid_or_name):
                return channel
        raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
            path=f"/v1/Workspaces/{self.sid}/Workers/{worker.sid}/Channels/{sid_or_name}"))

    def update_worker_channel(self, worker: Worker, sid_or_name: str, *, capacity=None, available=None) -> WorkerChannel:
        channel = self.get_worker_channel(worker, sid_or_name)
        if capacity is not None:
            v.integer_range("Capacity", capacity, 0, CHANNEL_CAPACITY_MAX)
        now = self.now()
        previous = channel.configured_capacity
        if capacity is not None:
            channel.configured_capacity = capacity
            channel.date_updated = now
            self.record("worker.capacity.update", f"Worker {worker.friendly_name} capacity updated", "worker",
                        worker.sid, f"Workers/{worker.sid}", ev.worker_channel_fields(self, worker, channel, previous))
        if available is not None:
            channel.available = available
            channel.date_updated = now
            self.record("worker.channel.availability.update",
                        f"Worker {worker.friendly_name} channel availability updated", "worker", worker.sid,
                        f"Workers/{worker.sid}", ev.worker_channel_fields(self, worker, channel, previous))
        self.backend.router.worker_changed(self, worker)
        return channel

    # --- workflows ----------------------------------------------------------------------------
    def get_workflow(self, sid: str) -> Workflow:
        return self._get(self.workflows, sid)

    def create_workflow(self, friendly_name: str, configuration: str, *, assignment_callback_url=None,
                        fallback_assignment_callback_url=None, task_reservation_timeout=None) -> Workflow:
        v.friendly_name(friendly_name)
        config = WorkflowConfiguration.parse(configuration, self)
        if task_reservation_timeout is not None:
            v.integer_range("TaskReservationTimeout", task_reservation_timeout, 1, RESERVATION_TIMEOUT_MAX)
        now = self.now()
        workflow = Workflow(self.new_sid("WW"), self.account_sid, self.sid, friendly_name, config.text, config.data,
                            assignment_callback_url or None, fallback_assignment_callback_url or None,
                            task_reservation_timeout or RESERVATION_TIMEOUT_DEFAULT, now, now)
        self.workflows[workflow.sid] = workflow
        self.workflow_configurations[workflow.sid] = config
        self.record("workflow.created", f"Workflow {friendly_name} created", "workflow", workflow.sid,
                    f"Workflows/{workflow.sid}", ev.workflow_fields(workflow))
        return workflow

    def update_workflow(self, sid: str, *, friendly_name=None, configuration=None, assignment_callback_url=None,
                        fallback_assignment_callback_url=None, task_reservation_timeout=None,
                        re_evaluate_tasks=False) -> Workflow:
        workflow = self.get_workflow(sid)
        if friendly_name is not None:
            v.friendly_name(friendly_name)
        config = WorkflowConfiguration.parse(configuration, self) if configuration is not None else None
        if task_reservation_timeout is not None:
            v.integer_range("TaskReservationTimeout", task_reservation_timeout, 1, RESERVATION_TIMEOUT_MAX)
        if friendly_name is not None:
            workflow.friendly_name = friendly_name
        if config is not None:
            workflow.configuration, workflow.configuration_data = config.text, config.data
            self.workflow_configurations[sid] = config
        if assignment_callback_url is not None:
            workflow.assignment_callback_url = assignment_callback_url or None
        if fallback_assignment_callback_url is not None:
            workflow.fallback_assignment_callback_url = fallback_assignment_callback_url or None
        if task_reservation_timeout is not None:
            workflow.task_reservation_timeout = task_reservation_timeout
        workflow.date_updated = self.now()
        self.record("workflow.updated", f"Workflow {workflow.friendly_name} updated", "workflow", sid,
                    f"Workflows/{sid}", ev.workflow_fields(workflow))
        if re_evaluate_tasks:
            self.backend.router.reevaluate_workflow(self, workflow)
        return workflow

    def delete_workflow(self, sid: str) -> None:
        workflow = self.get_workflow(sid)
        # "Deleting a Workflow is not possible if there are any pending or reserved Tasks still being
        # controlled by this Workflow" (https://www.twilio.com/docs/taskrouter/api/workflow).
        if any(t.workflow_sid == sid and t.assignment_status in (PENDING, RESERVED) for t in self.tasks.values()):
            raise errors.InvalidParameter(errors.WORKFLOW_IN_USE.format(sid=sid))
        del self.workflows[sid]
        self.workflow_configurations.pop(sid, None)
        self.record("workflow.deleted", f"Workflow {workflow.friendly_name} deleted", "workflow", sid, None,
                    ev.workflow_fields(workflow))

    # --- tasks --------------------------------------------------------------------------------
    def get_task(self, sid: str) -> Task:
        return self._get(self.tasks, sid)

    def create_task(self, *, attributes=None, priority=None, timeout=None, task_channel=None, workflow_sid=None,
                    virtual_start_time=None, routing_target=None, ignore_capacity=None,
                    task_queue_sid=None) -> Task:
        text, data = v.json_object("Attributes", attributes if attributes is not None else "{}")
        if priority is not None:
            v.integer_range("Priority", priority, 0, PRIORITY_MAX)
        if timeout is not None:
            v.integer_range("Timeout", timeout, 1, TASK_TIMEOUT_MAX)
        channel = self.task_channel_param(task_channel or "default")
        now = self.now()
        if virtual_start_time is not None:
            self._check_virtual_start_time(virtual_start_time, now)
        target = self._routing_target(routing_target) if routing_target else None
        if task_queue_sid is not None:
            self._param_in(self.task_queues, task_queue_sid, "TaskQueueSid", "TaskQueue")
        if workflow_sid is not None:
            self._param_in(self.workflows, workflow_sid, "WorkflowSid", "Workflow")
        elif target is None and task_queue_sid is None:
            # WorkflowSid "is optional only if the Workspace has exactly one Workflow"
            # (https://www.twilio.com/docs/taskrouter/api/task).
            if len(self.workflows) != 1:
                raise errors.InvalidParameter(errors.WORKFLOW_REQUIRED.format(count=len(self.workflows)))
            workflow_sid = next(iter(self.workflows))
        if target is not None and isinstance(target, Workflow):
            workflow_sid = target.sid
        if ignore_capacity is None and isinstance(target, Worker):
            # IgnoreCapacity defaults to true when RoutingTarget is a Worker
            # (https://www.twilio.com/en-us/changelog/route-directly-to-worker-task-queue-or-workflow).
            ignore_capacity = True
        task = Task(self.new_sid("WT"), self.account_sid, self.sid, text, data, PENDING,
                    priority if priority is not None else 0, timeout or TASK_TIMEOUT_DEFAULT, channel.sid,
                    workflow_sid, None, now, now, virtual_start_time or now,
                    routing_target=routing_target, ignore_capacity=ignore_capacity)
        task.requested_queue_sid = task_queue_sid
        self.tasks[task.sid] = task
        self.record("task.created", "Task created", "task", task.sid, f"Tasks/{task.sid}",
                    {**ev.task_fields(self, task), "WorkflowSid": workflow_sid,
                     **({"WorkflowName": self.workflows[workflow_sid].friendly_name} if workflow_sid else {})})
        self.backend.router.task_created(self, task)
        return task

    def _check_virtual_start_time(self, value: datetime, now: datetime) -> None:
        if value > now or value.year < 1900:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="VirtualStartTime", reason="can't be in the future or before the year 1900"))

    def _param_in(self, table: dict, sid: str, name: str, kind: str):
        if sid not in table:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name=name, reason=f"{kind} {sid} does not exist in workspace {self.sid}"))
        return table[sid]

    def _routing_target(self, value: str):
        tables: dict[str, dict] = {"WK": self.workers, "WQ": self.task_queues, "WW": self.workflows}
        if not is_sid(value) or value[:2] not in tables:
            raise errors.InvalidParameter(errors.ROUTING_TARGET_INVALID.format(
                value=value, workspace_sid=self.sid, account_sid=self.account_sid))
        return self._param_in(tables[value[:2]], value, "RoutingTarget", "Resource")

    def update_task(self, sid: str, *, attributes=None, assignment_status=None, reason=None, priority=None,
                    task_channel=None, virtual_start_time=None, if_match=None) -> Task:
        task = self.get_task(sid)
        self.check_version(task, if_match, "Task")
        if attributes is not None and assignment_status is not None:
            # "you cannot update the AssignmentStatus and Attributes of a Task in the same request"
            # (https://www.twilio.com/docs/taskrouter/api/task).
            raise errors.InvalidParameter(errors.TASK_ATTRIBUTES_AND_STATUS)
        parsed = v.json_object("Attributes", attributes) if attributes is not None else None
        if priority is not None:
            v.integer_range("Priority", priority, 0, PRIORITY_MAX)
        channel = self.task_channel_param(task_channel) if task_channel is not None else None
        channel_changed = channel is not None and channel.sid != task.task_channel_sid
        if channel_changed and task.assignment_status in (ASSIGNED, WRAPPING):
            # [I] the worker's capacity on the old channel holds the task; moving it would leave
            # that channel's count wrong, so (as the docs never show it) the change is refused.
            raise errors.IllegalState(errors.TASK_CHANNEL_LOCKED.format(
                task_sid=task.sid, status=task.assignment_status))
        now = self.now()
        if virtual_start_time is not None:
            self._check_virtual_start_time(virtual_start_time, now)
        if assignment_status is not None:
            self._check_transition(task, assignment_status)
        # validated: apply
        if parsed is not None:
            task.attributes, task.attributes_data = parsed
        if priority is not None:
            task.priority = priority
        if channel is not None:
            task.task_channel_sid = channel.sid
        if virtual_start_time is not None:
            task.virtual_start_time = virtual_start_time
        if reason is not None:
            task.reason = reason
        task.version += 1
        task.date_updated = now
        if assignment_status is not None and assignment_status != task.assignment_status:
            self.backend.router.change_task_status(self, task, assignment_status, reason)
        elif parsed is not None or priority is not None or channel is not None or virtual_start_time is not None:
            self.record("task.updated", "Task updated", "task", task.sid, f"Tasks/{task.sid}",
                        {**ev.task_fields(self, task), "TaskQueueSid": task.task_queue_sid,
                         "WorkflowSid": task.workflow_sid})
            # a new channel changes which workers may take the task, as new attributes do
            self.backend.router.task_updated(self, task, attributes_changed=parsed is not None or channel_changed)
        return task

    def _check_transition(self, task: Task, status: str) -> None:
        """Legal ``AssignmentStatus`` changes (https://www.twilio.com/docs/taskrouter/lifecycle-task-state)."""
        fmt = dict(task_sid=task.sid, workspace_sid=self.sid, account_sid=self.account_sid)
        current = task.assignment_status
        if status == CANCELED:
            if current not in (PENDING, RESERVED):
                raise errors.IllegalState(errors.TASK_CANNOT_CANCEL.format(**fmt))
        elif status == WRAPPING:
            if current != ASSIGNED:
                raise errors.IllegalState(errors.TASK_CANNOT_WRAP.format(**fmt))
        elif status == COMPLETED:
            if current not in (ASSIGNED, WRAPPING):
                raise errors.IllegalState(errors.TASK_CANNOT_COMPLETE.format(**fmt))
        else:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="AssignmentStatus", reason=f"cannot be set to {status}; use canceled, wrapping or completed"))

    def finish_task(self, task: Task) -> None:
        """A task reached ``canceled`` or ``completed``: it is deleted five minutes later."""
        self._cancel_deletion(task.sid)
        self._deletion_timers[task.sid] = self.clock.call_later(
            FINISHED_TASK_RETENTION, partial(self._auto_delete, task.sid), name=f"delete {task.sid}")

    def _cancel_deletion(self, task_sid: str) -> None:
        timer = self._deletion_timers.pop(task_sid, None)
        if timer is not None:
            timer.cancel()

    def _auto_delete(self, task_sid: str) -> None:
        self._deletion_timers.pop(task_sid, None)
        if self.backend.workspace_alive(self):
            self.backend.router.remove_task(self, task_sid, system=True)

    def delete_task(self, sid: str, if_match: str | None = None) -> None:
        task = self.get_task(sid)
        self.check_version(task, if_match, "Task")
        self._cancel_deletion(sid)
        self.backend.router.remove_task(self, sid, system=False)

    # --- reservations -------------------------------------------------------------------------
    def get_reservation(self, sid: str, *, task_sid: str | None = None, worker_sid: str | None = None) -> Reservation:
        reservation = self.reservations.get(sid)
        if reservation is None or (task_sid and reservation.task_sid != task_sid) or (
                worker_sid and reservation.worker_sid != worker_sid):
            owner = f"Tasks/{task_sid}" if task_sid else f"Workers/{worker_sid}"
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                path=f"/v1/Workspaces/{self.sid}/{owner}/Reservations/{sid}"))
        return reservation

    # --- events -------------------------------------------------------------------------------
    def get_event(self, sid: str) -> Event:
        self.expire_events()
        return self._get(self.events, sid)

    def expire_events(self) -> None:
        cutoff = self.now() - timedelta(days=ev.RETENTION_DAYS)
        while self.events:
            first = next(iter(self.events.values()))
            if first.event_date >= cutoff:
                break
            self.events.popitem(last=False)

    # --- shared -------------------------------------------------------------------------------
    _KIND_PATHS = {"WA": "Activities", "WQ": "TaskQueues", "WK": "Workers", "WW": "Workflows", "WT": "Tasks",
                   "EV": "Events"}

    def _get(self, table: dict, sid: str):
        item = table.get(sid)
        if item is None:
            kind = self._KIND_PATHS.get(sid[:2].upper(), "Resources")
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=f"/v1/Workspaces/{self.sid}/{kind}/{sid}"))
        return item

