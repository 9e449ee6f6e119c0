"""Workers and their channels: create, update (activity, attributes, name), delete, capacity and
availability per channel (https://www.twilio.com/docs/taskrouter/api/worker,
https://www.twilio.com/docs/taskrouter/api/worker-channel)."""

from __future__ import annotations

from .. import errors
from . import validation as v
from .state import TaskChannel, Worker, WorkerChannel
from .tables import WorkspaceTables

# [I] no documented upper bound for a worker channel's capacity; 50 matches the console's limit.
CHANNEL_CAPACITY_MAX = 50


class WorkerResources(WorkspaceTables):
    """The rules of Workers and WorkerChannels."""

    # --- workers ------------------------------------------------------------------------------
    def get_worker(self, sid: str) -> Worker:
        return self._get(self.workers, sid, "Workers")

    def create_worker(self, friendly_name: str, *, activity_sid: str | None = None,
                      attributes: str | None = None) -> Worker:
        v.friendly_name(friendly_name)
        v.within_limit("workers", len(self.workers), f"workspace {self.sid}")
        # "Friendly names are case insensitive, and unique within the TaskRouter Workspace"
        # (https://www.twilio.com/docs/taskrouter/api/worker).
        if friendly_name.casefold() in self.worker_names:
            raise errors.InvalidParameter(self._taken_message(errors.WORKER_NAME_TAKEN, friendly_name))
        # (no attributes: the empty object, not the text "{}" parsed)
        text, data = v.json_object("Attributes", attributes) if attributes is not None else ("{}", {})
        if not activity_sid and self.default_activity_sid not in self.activities:
            # a workspace made with Template=EMPTY has no default activity until one is set
            raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name="ActivitySid"))
        activity = self.activity_param(activity_sid, "ActivitySid") if activity_sid else \
            self.activities[self.default_activity_sid]
        now = self.now()
        worker = Worker(self.new_sid("WK"), self.account_sid, self.sid, friendly_name, text, data, activity.sid,
                        now, now, now)
        for channel in self.task_channels.values():
            self._add_worker_channel(worker, channel)
        self.workers[worker.sid] = worker
        self.worker_names[friendly_name.casefold()] = worker.sid
        self.emit("worker.created", worker=worker)
        self.ctx.routing.worker_changed(self, worker)
        return worker

    def _add_worker_channel(self, worker: Worker, channel: TaskChannel) -> None:
        now = self.now()
        # [I] the default configured capacity of a new worker channel is not documented; 1.
        worker.channels[channel.sid] = WorkerChannel(self.new_sid("WC"), self.account_sid, self.sid, worker.sid,
                                                     channel.sid, 1, True, 0, now, now)

    def update_worker(self, sid: str, *, activity_sid=None, attributes=None, friendly_name=None,
                      reject_pending_reservations=None, if_match=None) -> Worker:
        worker = self.get_worker(sid)
        self.check_version(worker, if_match, "Worker")
        activity = self.activity_param(activity_sid, "ActivitySid") if activity_sid is not None else None
        parsed = v.json_object("Attributes", attributes) if attributes is not None else None
        if friendly_name is not None:
            v.friendly_name(friendly_name)
            if self.worker_names.get(friendly_name.casefold(), worker.sid) != worker.sid:
                raise errors.InvalidParameter(self._taken_message(errors.WORKER_NAME_TAKEN, friendly_name))
        if reject_pending_reservations and (activity is None or activity.available):
            # "only valid when the new activity is unavailable" (https://www.twilio.com/docs/taskrouter/api/worker)
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="RejectPendingReservations", reason="can only be used when changing to an unavailable Activity"))
        now = self.now()
        changed = False
        if friendly_name is not None and friendly_name != worker.friendly_name:
            names = self.worker_names
            del names[worker.friendly_name.casefold()]
            names[friendly_name.casefold()] = worker.sid
            worker.friendly_name = friendly_name
            changed = True
        if parsed is not None:
            worker.attributes, worker.attributes_data = parsed
            worker.version += 1
            worker.date_updated = now
            changed = False
            self.emit("worker.attributes.update", worker=worker)
        if activity is not None and activity.sid != worker.activity_sid:
            if reject_pending_reservations:
                self.ctx.routing.reject_pending_reservations(self, worker)
            self.set_worker_activity(worker, activity.sid)
        elif changed:
            worker.version += 1
            worker.date_updated = now
        if parsed is not None or friendly_name is not None:
            # new attributes (or name) may put the worker in other queues
            self.ctx.routing.worker_changed(self, worker)
        return worker

    def delete_worker(self, sid: str, if_match: str | None = None) -> None:
        worker = self.get_worker(sid)
        self.check_version(worker, if_match, "Worker")
        # [I] undocumented: deletion is allowed; the worker's pending reservations are canceled.
        self.ctx.routing.worker_removed(self, worker)
        del self.workers[sid]
        self.worker_names.pop(worker.friendly_name.casefold(), None)
        self.emit("worker.deleted", worker=worker)

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
            self.emit("worker.capacity.update", worker=worker, channel=channel, previous_capacity=previous)
        if available is not None:
            channel.available = available
            channel.date_updated = now
            self.emit("worker.channel.availability.update", worker=worker, channel=channel, previous_capacity=previous)
        self.ctx.routing.worker_changed(self, worker)
        return channel

