"""Tasks: create (with its workflow, queue or routing target), update (attributes, priority,
channel, status) and delete (https://www.twilio.com/docs/taskrouter/api/task). Status changes
follow ``lifecycle``'s table; what happens next is the router's."""

from __future__ import annotations

from datetime import datetime

from .. import errors
from ..sids import is_sid
from . import lifecycle
from . import validation as v
from .routing import steps
from .state import ASSIGNED, PENDING, WRAPPING, Task, Worker, Workflow
from .tables import WorkspaceTables

TASK_TIMEOUT_DEFAULT = 86_400
TASK_TIMEOUT_MAX = 1_209_600
PRIORITY_MAX = 2_147_483_647


class TaskResources(WorkspaceTables):
    """The rules of Tasks."""

    # --- tasks --------------------------------------------------------------------------------
    def get_task(self, sid: str) -> Task:
        return self._get(self.tasks, sid, "Tasks")

    def create_task(self, *, attributes=None, priority=None, timeout=None, task_channel=None, workflow_sid=None,
                    virtual_start_time=None, routing_target=None, ignore_capacity=None,
                    task_queue_sid=None) -> Task:
        v.within_limit("tasks", len(self.tasks), f"workspace {self.sid}")
        # (no attributes: the empty object, not the text "{}" parsed)
        text, data = v.json_object("Attributes", attributes) if attributes is not None else ("{}", {})
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
        if ignore_capacity and not isinstance(target, Worker):
            # IgnoreCapacity "only applies when RoutingTarget is a Worker" (https://www.twilio.com/docs/taskrouter/api/task)
            raise errors.InvalidParameter(errors.IGNORE_CAPACITY_WITHOUT_WORKER)
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
        # the targets are chosen once: nothing the event's listeners do can change them
        route = steps.choose_route(self, task)
        self.emit("task.created", task=task, queue=steps.first_queue(self, route))
        self.ctx.routing.task_created(self, task, route)
        return task

    def _check_virtual_start_time(self, value: datetime, now: datetime) -> None:
        if value > now or value.year < 1900:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="VirtualStartTime", reason="can't be in the future or before the year 1900"))

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
        if reason is not None and assignment_status is None:
            # Reason "is required only if the Task is canceled or completed" and is logged with the
            # status change (https://www.twilio.com/docs/taskrouter/api/task): alone it goes with
            # nothing. The Worker SDK sends it with wrapping too (Task.wrapUp), which is accepted.
            raise errors.InvalidParameter(errors.REASON_WITHOUT_STATUS)
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
            lifecycle.check_task_update(self, task, assignment_status)
        # validated: apply
        if parsed is not None:
            task.attributes, task.attributes_data = parsed
            if task.assignment_status in lifecycle.FINISHED:
                task.parsed_attributes = None  # see ``Task.parsed_attributes``
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
            self.ctx.routing.change_task_status(self, task, assignment_status, reason)
        elif parsed is not None or priority is not None or channel is not None or virtual_start_time is not None:
            self.emit("task.updated", task=task)
            # a new channel changes which workers may take the task, as new attributes do
            self.ctx.routing.task_updated(self, task, attributes_changed=parsed is not None or channel_changed)
        return task

    def delete_task(self, sid: str, if_match: str | None = None) -> None:
        task = self.get_task(sid)
        self.check_version(task, if_match, "Task")
        self.ctx.routing.remove_task(self, sid, system=False)

