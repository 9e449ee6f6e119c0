"""A Workspace, the aggregate: its records, routing index, timers and event log
(``tables.WorkspaceTables``), and the rules of its REST resources.

The configuration resources (the workspace itself, Activities, TaskChannels, TaskQueues,
Workflows) are here; Workers live in ``workers.py`` and Tasks in ``tasks.py``. Each public method
is one API action (create / update / delete of a resource, or a query) and raises the service's
errors from ``emulator.errors``. Methods run under the backend lock; they either change state
completely or raise before changing anything (validate first, then apply). What a change means
for routing is the router's: the workspace tells it through ``ctx.routing``.
"""

from __future__ import annotations

import json

from .. import errors
from ..sids import is_sid
from . import validation as v
from .expressions import parse as parse_expression
from .state import (
    ACTIVE_TASK_STATUSES,
    ASSIGNED,
    PENDING,
    RESERVED,
    Activity,
    Reservation,
    TaskChannel,
    TaskQueue,
    Transfer,
    Workflow,
)
from .tasks import PRIORITY_MAX, TaskResources
from .updates import ReservationUpdate
from .workers import WorkerResources
from .workflow_config import WorkflowConfiguration

# Workspace creation defaults (https://www.twilio.com/docs/taskrouter/api/activity: "TaskRouter
# pre-populates new Workspaces with Offline, Unavailable and Available"; the order is the one a
# recorded real response lists them in).
DEFAULT_ACTIVITIES = (("Offline", False), ("Available", True), ("Unavailable", False))
# https://www.twilio.com/docs/taskrouter/multitasking: channels every workspace starts with.
DEFAULT_TASK_CHANNELS = (("Default", "default"), ("Voice", "voice"), ("SMS", "sms"), ("Chat", "chat"),
                         ("Video", "video"))
# EMPTY [I]: real setup programs create workspaces with Template=EMPTY and then make their own
# Offline activity and set it as the default and timeout activity, so EMPTY creates no activities
# (its task channels are made: every workspace has its default channel, https://www.twilio.com/docs/taskrouter/limits).
TEMPLATES = ("NONE", "FIFO", "EMPTY")
QUEUE_ORDERS = ("FIFO", "LIFO")
# Names the FIFO template uses in the real console and SDK fixtures [O].
FIFO_QUEUE_NAME = "Sample Queue"
FIFO_WORKFLOW_NAME = "Default Fifo Workflow"

RESERVATION_TIMEOUT_DEFAULT = 120
RESERVATION_TIMEOUT_MAX = 86_400
MAX_RESERVED_WORKERS_MAX = 50


class Workspace(TaskResources, WorkerResources):
    """One Workspace with its Activities, TaskChannels, TaskQueues, Workers, Workflows, Tasks,
    Reservations and Events."""

    # --- reservations ------------------------------------------------------------------------
    def update_reservation(self, reservation: Reservation, update: ReservationUpdate) -> None:
        """A ``ReservationStatus`` / ``Instruction`` update (from the REST API or an assignment
        callback's answer)."""
        self.ctx.routing.update_reservation(self, reservation, update)

    def cancel_reservation(self, reservation: Reservation) -> None:
        """Cancel a pending reservation (its assignment callback and fallback both failed)."""
        self.ctx.routing.cancel_reservation(self, reservation)

    # --- transfers (the Worker SDK's Transfers resource) -----------------------------------------
    def get_transfer(self, sid: str, *, worker_sid: str | None = None) -> Transfer:
        transfer = self.transfers.get(sid)
        if transfer is None or (worker_sid is not None and transfer.initiating_worker_sid != worker_sid):
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                path=f"/v1/Workspaces/{self.sid}/Workers/{worker_sid}/Transfers/{sid}"))
        return transfer

    def create_transfer(self, worker_sid: str, *, reservation_sid: str, task_sid: str, to: str,
                        mode: str | None = None, attributes: str | None = None,
                        priority: int | None = None) -> Transfer:
        """Transfer the task a worker holds (its accepted reservation) to another worker or to a
        TaskQueue, WARM (the default: the worker stays on it) or COLD."""
        worker = self.get_worker(worker_sid)
        reservation = self.reservations.get(reservation_sid)
        task = self.tasks.get(task_sid)
        if reservation is None or task is None or reservation.worker_sid != worker.sid or \
                reservation.task_sid != task.sid or reservation.reservation_status not in ("accepted", "wrapping"):
            raise errors.InvalidParameter(errors.TRANSFER_RESERVATION.format(
                sid=reservation_sid, worker_sid=worker_sid, task_sid=task_sid))
        mode = (mode or "WARM").upper()
        if mode not in ("WARM", "COLD"):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Mode", reason="must be WARM or COLD"))
        if not (is_sid(to, "WQ") and to in self.task_queues) and \
                (not is_sid(to, "WK") or to not in self.workers or to == worker.sid):
            raise errors.InvalidParameter(errors.TRANSFER_TARGET.format(to=to, workspace_sid=self.sid))
        if task.transfer_sid is not None:
            raise errors.IllegalState(errors.TRANSFER_UNDER_WAY.format(task_sid=task.sid,
                                                                       transfer_sid=task.transfer_sid))
        # [I] a task in wrap-up is not handed on: its work is done
        if task.assignment_status != ASSIGNED:
            raise errors.IllegalState(errors.TRANSFER_RESERVATION.format(
                sid=reservation_sid, worker_sid=worker_sid, task_sid=task_sid))
        parsed = v.json_object("Attributes", attributes) if attributes is not None else None
        if priority is not None:
            v.integer_range("Priority", priority, 0, PRIORITY_MAX)
        return self.ctx.routing.create_transfer(self, reservation, task, to, mode, parsed, priority)

    def cancel_transfer(self, worker_sid: str, sid: str, *, status: str | None) -> Transfer:
        transfer = self.get_transfer(sid, worker_sid=worker_sid)
        if status != "canceled":
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="TransferStatus", reason="can only be set to canceled"))
        self.ctx.routing.cancel_transfer(self, transfer)
        return transfer

    # --- workspace ----------------------------------------------------------------------------
    def populate_defaults(self, template: str) -> None:
        """Create the default activities (none for EMPTY) and task channels, and the FIFO template's
        queue and workflow."""
        if template != "EMPTY":
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
        self.emit("workspace.updated")
        if multi_task_enabled is not None:
            # capacity rules changed for every worker: some may take more work now
            self.invalidate_index()
            for worker in list(self.workers.values()):
                self.ctx.routing.worker_changed(self, worker)

    # --- activities ---------------------------------------------------------------------------
    def get_activity(self, sid: str) -> Activity:
        return self._get(self.activities, sid, "Activities")

    def create_activity(self, friendly_name: str, available: bool = False, *, emit: bool = True) -> Activity:
        v.friendly_name(friendly_name)
        if len(self.activities) >= v.LIMITS["activities"]:
            raise errors.InvalidParameter(errors.ACTIVITY_LIMIT.format(limit=v.LIMITS["activities"],
                                                                       workspace_sid=self.sid))
        # [I] activity names are unique per workspace (case-insensitive, like worker names):
        # statistics are keyed by them.
        if self._name_taken(self.activities.values(), friendly_name, casefold=True):
            raise errors.InvalidParameter(self._taken_message(errors.ACTIVITY_NAME_TAKEN, friendly_name))
        now = self.now()
        activity = Activity(self.new_sid("WA"), self.account_sid, self.sid, friendly_name, bool(available), now, now)
        self.activities[activity.sid] = activity
        if emit:
            self.emit("activity.created", activity=activity)
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
            self.invalidate_index()  # TargetWorkers may read activity_name
        activity.date_updated = self.now()
        self.emit("activity.updated", activity=activity)
        if friendly_name is not None:
            # its workers may now match queues (activity_name == '...') they did not before
            for worker in [w for w in self.workers.values() if w.activity_sid == activity.sid]:
                self.ctx.routing.worker_changed(self, worker)
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
        self.emit("activity.deleted", activity=activity)

    # --- task channels ------------------------------------------------------------------------
    def create_task_channel(self, friendly_name: str, unique_name: str, channel_optimized_routing: bool | None,
                            *, emit: bool = True) -> TaskChannel:
        v.friendly_name(friendly_name)
        v.within_limit("task_channels", len(self.task_channels), f"workspace {self.sid}")
        if not v.TASK_CHANNEL_UNIQUE_NAME.match(unique_name or ""):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="UniqueName", reason="must start with a letter, _ or $ and contain only letters, digits, _, $ and -"))
        if self._name_taken(self.task_channels.values(), unique_name, "unique_name", casefold=False):
            raise errors.InvalidParameter(self._taken_message(errors.TASK_CHANNEL_NAME_TAKEN, unique_name))
        now = self.now()
        channel = TaskChannel(self.new_sid("TC"), self.account_sid, self.sid, friendly_name, unique_name,
                              bool(channel_optimized_routing), now, now)
        self.task_channels[channel.sid] = channel
        for worker in self.workers.values():
            self._add_worker_channel(worker, channel)
        self.invalidate_index()
        if emit:
            self.emit("task-channel.created", task_channel=channel)
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
        self.emit("task-channel.updated", task_channel=channel)
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
        self.invalidate_index()
        self.emit("task-channel.deleted", task_channel=channel)

    # --- task queues --------------------------------------------------------------------------
    def get_task_queue(self, sid: str) -> TaskQueue:
        return self._get(self.task_queues, sid, "TaskQueues")

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
        v.within_limit("task_queues", len(self.task_queues), f"workspace {self.sid}")
        self._check_queue_fields(None, friendly_name, max_reserved_workers, task_order, reservation_activity_sid,
                                 assignment_activity_sid)
        expression = self._parse_target_workers(target_workers)
        now = self.now()
        queue = TaskQueue(self.new_sid("WQ"), self.account_sid, self.sid, friendly_name, target_workers,
                          max_reserved_workers or 1, task_order or "FIFO",
                          reservation_activity_sid, assignment_activity_sid, now, now)
        self.task_queues[queue.sid] = queue
        self.queue_expressions[queue.sid] = expression
        self.ctx.routing.queue_changed(self, queue)
        self.emit("task-queue.created", queue=queue)
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
            self.emit("task-queue.expression.updated", queue=queue)
        if expression is not None or max_reserved_workers is not None or task_order is not None:
            self.ctx.routing.queue_changed(self, queue)
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
        self.ctx.routing.queue_removed(self, sid)
        self.emit("task-queue.deleted", queue=queue)

    # --- workflows ----------------------------------------------------------------------------
    def get_workflow(self, sid: str) -> Workflow:
        return self._get(self.workflows, sid, "Workflows")

    def create_workflow(self, friendly_name: str, configuration: str, *, assignment_callback_url=None,
                        fallback_assignment_callback_url=None, task_reservation_timeout=None) -> Workflow:
        v.friendly_name(friendly_name)
        v.within_limit("workflows", len(self.workflows), f"workspace {self.sid}")
        config = WorkflowConfiguration.parse(configuration, self)
        if task_reservation_timeout is not None:
            v.integer_range("TaskReservationTimeout", task_reservation_timeout, 1, RESERVATION_TIMEOUT_MAX)
        now = self.now()
        workflow = Workflow(self.new_sid("WW"), self.account_sid, self.sid, friendly_name, config.text, config.data,
                            assignment_callback_url or None, fallback_assignment_callback_url or None,
                            task_reservation_timeout or RESERVATION_TIMEOUT_DEFAULT, now, now)
        self.workflows[workflow.sid] = workflow
        self.workflow_configurations[workflow.sid] = config
        self.emit("workflow.created", workflow=workflow)
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
        self.emit("workflow.updated", workflow=workflow)
        if re_evaluate_tasks:
            self.ctx.routing.reevaluate_workflow(self, workflow)
        return workflow

    def delete_workflow(self, sid: str) -> None:
        workflow = self.get_workflow(sid)
        # "Deleting a Workflow is not possible if there are any pending or reserved Tasks still being
        # controlled by this Workflow" (https://www.twilio.com/docs/taskrouter/api/workflow).
        if any(t.workflow_sid == sid and t.assignment_status in (PENDING, RESERVED) for t in self.tasks.values()):
            raise errors.InvalidParameter(errors.WORKFLOW_IN_USE.format(sid=sid))
        del self.workflows[sid]
        self.workflow_configurations.pop(sid, None)
        self.emit("workflow.deleted", workflow=workflow)

