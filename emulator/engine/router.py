"""The router: coordination only. It decides what to look at after a change, in one batch.

Work is driven by hooks the workspace calls (``task_created``, ``worker_changed``, ...; see
``context.RoutingHooks``), by reservation updates and by timers. Routing that a hook triggers is
queued in the context's work queue and run when the outermost hook returns, so nested changes
(a reservation moving a worker to another activity, which is itself a hook) never re-enter a pass.

The rules live elsewhere: the Task and Reservation state machines, the capacity rule and the task
timers in ``lifecycle``; where a task goes in ``routing.steps``; who may take it, in which order,
in ``routing.matching``; what is waiting and who is free in ``routing.index``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import errors
from . import activities, instructions, lifecycle
from .context import Batch, WorkQueue
from .lifecycle import ASSIGNED_TASK_LIFETIME, DEFAULT_RESERVATION_TIMEOUT, FINISHED_TASK_RETENTION, LOAD_STATUSES, TTL_REASON
from .routing import index as idx
from .routing import matching, steps, transfers
from .routing.index import RoutingIndex
from .state import (
    ASSIGNED,
    CANCELED,
    COMPLETED,
    HELD,
    PENDING,
    RESERVED,
    WAITING,
    WRAPPING,
    Reservation,
    ReservationStatus,
    Route,
    Task,
    TaskQueue,
    TaskRouting,
    Transfer,
    Worker,
    WorkerChannel,
    Workflow,
)
from .updates import ReservationUpdate

if TYPE_CHECKING:
    from .tables import WorkspaceTables

RS = ReservationStatus


class Router:
    """Routing for every workspace of a backend; its only state is the work queue it drains."""

    def __init__(self, work: WorkQueue, alive: Callable[[WorkspaceTables], bool]) -> None:
        self.work = work
        self.alive = alive  # whether a workspace still exists (queued work for a deleted one is dropped)
        self._batching = Batch(work, self._drain)

    # --- batching: ``with self._batching:`` around every hook; the outermost drains the work ----

    def _drain(self) -> None:
        work = self.work
        work.depth += 1
        try:
            while work.items:
                (kind, sid), ws = work.items.popitem(last=False)
                if not self.alive(ws):
                    continue
                if kind == "task":
                    task = ws.tasks.get(sid)
                    if task is not None:
                        self._assign_task(ws, task)
                else:
                    worker = ws.workers.get(sid)
                    if worker is not None:
                        self._offer_worker(ws, worker)
        finally:
            work.depth -= 1

    # --- timers: one table from kind to handler (``TIMER_HANDLERS``, below) ---------------------------
    def on_timer(self, ws: WorkspaceTables, kind: str, subject: str) -> None:
        with self._batching:
            TIMER_HANDLERS[kind](self, ws, subject)

    def _ttl_expired(self, ws: WorkspaceTables, task_sid: str) -> None:
        task = ws.tasks.get(task_sid)
        if task is not None and task.assignment_status in WAITING:
            self.cancel_task(ws, task, TTL_REASON)

    def _target_expired(self, ws: WorkspaceTables, task_sid: str) -> None:
        task = ws.tasks.get(task_sid)
        state = ws.task_routing.get(task_sid)
        if task is None or state is None or state.route is None or task.assignment_status not in WAITING:
            return
        route = state.route
        ws.emit("task-queue.timeout", task=task)
        # [I] offers still pending in the old queue are withdrawn when the task moves on
        for reservation in self._task_reservations(ws, task, RS.PENDING):
            self._end_reservation(ws, reservation, RS.RESCINDED)
            activities.restore(ws, reservation)
            self.work.want_worker(ws, reservation.worker_sid)
        lifecycle.move_task(task, PENDING)
        if route.index + 1 < len(route.targets):
            self._next_target(ws, task, route.index + 1)
        else:
            if route.workflow_sid:
                ws.emit("workflow.timeout", task=task)
            self.cancel_task(ws, task, steps.WORKFLOW_TIMEOUT_REASON)

    def _next_target(self, ws: WorkspaceTables, task: Task, index: int) -> None:
        route = ws.task_routing[task.sid].route
        assert route is not None
        ws.emit("task-queue.moved", task=task, queue=ws.task_queues.get(route.targets[index].queue_sid or ""))
        if not steps.enter_step(ws, task, index):
            self.cancel_task(ws, task, steps.WORKFLOW_SKIPPED_REASON)

    def _reservation_expired(self, ws: WorkspaceTables, reservation_sid: str) -> None:
        reservation = ws.reservations.get(reservation_sid)
        if reservation is None or reservation.reservation_status != RS.PENDING:
            return
        self._release(ws, reservation, RS.TIMEOUT, exclude=False, declined=True)
        # the worker did not answer: it moves to the workspace's TimeoutActivity
        # (https://www.twilio.com/docs/taskrouter/api/workspace), or, with none, back to where it was
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None and ws.timeout_activity_sid in ws.activities:
            if worker.activity_sid != ws.timeout_activity_sid:
                ws.set_worker_activity(worker, ws.timeout_activity_sid)
        else:
            activities.restore(ws, reservation)
        # The task re-evaluates: on to the next target of its filter at once, if any (https://www.twilio.com/
        # docs/taskrouter/task-evaluation: the reservation "times out for Task A. Task A re-evaluates and maps to Q2").
        task, state = ws.tasks.get(reservation.task_sid), ws.task_routing.get(reservation.task_sid)
        route = state.route if state is not None else None
        if task is not None and route is not None and route.workflow_sid and task.assignment_status == PENDING \
                and route.index + 1 < len(route.targets):
            self._next_target(ws, task, route.index + 1)

    def _assigned_expired(self, ws: WorkspaceTables, task_sid: str) -> None:
        task = ws.tasks.get(task_sid)
        if task is not None and task.assignment_status in HELD:
            self.remove_task(ws, task_sid, system=True, event_type="task.system-deleted")

    def _finished_expired(self, ws: WorkspaceTables, task_sid: str) -> None:
        self.remove_task(ws, task_sid, system=True)

    # --- hooks called by the workspace ---------------------------------------------------------
    def task_created(self, ws: WorkspaceTables, task: Task, route: Route | None) -> None:
        """A new task, with the targets ``steps.choose_route`` chose for it."""
        with self._batching:
            ix = ws.index
            idx.number_task(ix, task.sid)
            ws.timers.start(lifecycle.TTL, task.sid, task.timeout)
            if not steps.start_route(ws, task, route):
                self.cancel_task(ws, task, steps.WORKFLOW_SKIPPED_REASON)

    def task_updated(self, ws: WorkspaceTables, task: Task, *, attributes_changed: bool) -> None:
        """A waiting task whose attributes change goes through its workflow again (age kept).

        "Updating a pending task's attributes re-drives it through its workflow"
        (https://www.twilio.com/docs/taskrouter/api/task; re-evaluation on attribute change:
        https://www.twilio.com/docs/taskrouter/lifecycle-task-workflows-and-assignment). [I] A
        ``reserved`` task is re-evaluated too: its pending offers were made for the old attributes,
        so they are rescinded (withdrawn from the workers, as a multi-reservation offer another
        worker won is) and the task is routed again from the first step.
        """
        with self._batching:
            ix = ws.index
            # a changed TaskChannel moves the load of the task's reservations to another channel
            for reservation in list(ix.by_task.get(task.sid, {}).values()):
                if reservation.reservation_status in LOAD_STATUSES and reservation.worker_sid in ws.workers:
                    idx.refresh_worker(ws, ix, ws.workers[reservation.worker_sid])
                    self.work.want_worker(ws, reservation.worker_sid)
            if task.assignment_status not in WAITING:
                idx.sync_task(ws, ix, task)
                return
            if attributes_changed and task.workflow_sid and not task.routing_target and not task.requested_queue_sid:
                for reservation in self._task_reservations(ws, task, RS.PENDING):
                    self._end_reservation(ws, reservation, RS.RESCINDED)
                    activities.restore(ws, reservation)
                    self.work.want_worker(ws, reservation.worker_sid)
                lifecycle.move_task(task, PENDING)
                self._start_routing(ws, task)
            else:
                idx.sync_task(ws, ix, task)
                self.work.want_task(ws, task.sid)

    def worker_changed(self, ws: WorkspaceTables, worker: Worker) -> None:
        """A worker's activity, attributes, name or channels changed: offer it waiting work."""
        with self._batching:
            ix = ws.index
            if worker.sid in ix.worker_doc_key:
                idx.update_membership(ws, ix, worker)
            idx.refresh_worker(ws, ix, worker)
            self.work.want_worker(ws, worker.sid)

    def queue_changed(self, ws: WorkspaceTables, queue: TaskQueue) -> None:
        """A queue was created, or its TargetWorkers, MaxReservedWorkers or TaskOrder changed:
        membership is recomputed and its waiting tasks look again."""
        with self._batching:
            ix = ws.index
            idx.compute_members(ws, ix, queue.sid)
            waiting = [sid for table in (ix.waiting, ix.held) for (queue_sid, _), tasks in list(table.items())
                       if queue_sid == queue.sid for sid in tasks]
            waiting.sort(key=lambda sid: ix.task_seq.get(sid, -1))
            for sid in waiting:
                task = ws.tasks.get(sid)
                if task is None:
                    continue
                idx.sync_task(ws, ix, task)  # its order or its reservation limit may have changed
                self.work.want_task(ws, sid)

    def queue_removed(self, ws: WorkspaceTables, queue_sid: str) -> None:
        ix = ws.built_index
        if ix is not None:
            idx.drop_queue(ix, queue_sid)

    def reevaluate_workflow(self, ws: WorkspaceTables, workflow: Workflow) -> None:
        """``ReEvaluateTasks=true``: the workflow's pending tasks are routed again from the start."""
        with self._batching:
            for task in list(ws.tasks.values()):
                if task.workflow_sid == workflow.sid and task.assignment_status == PENDING \
                        and not task.routing_target and not task.requested_queue_sid:
                    self._start_routing(ws, task)

    def reject_pending_reservations(self, ws: WorkspaceTables, worker: Worker) -> None:
        with self._batching:
            for reservation in ws.worker_reservations(worker.sid):
                if reservation.reservation_status == RS.PENDING:
                    self._release(ws, reservation, RS.REJECTED, exclude=False, declined=True)

    def cancel_reservation(self, ws: WorkspaceTables, reservation: Reservation) -> None:
        """A pending reservation whose assignment callback and fallback both failed is canceled
        (https://www.twilio.com/docs/taskrouter/api/workflow); the task goes back to routing.
        [I] The worker is passed over for this task from then on, as after a rejection, so an
        unreachable callback does not re-offer the same worker in a loop."""
        with self._batching:
            if reservation.reservation_status == RS.PENDING:
                self._release(ws, reservation, RS.CANCELED, exclude=True)

    def worker_removed(self, ws: WorkspaceTables, worker: Worker) -> None:
        with self._batching:
            for reservation in ws.worker_reservations(worker.sid):
                if reservation.reservation_status == RS.PENDING:
                    self._release(ws, reservation, RS.CANCELED, exclude=True)
            ws.last_assigned.pop(worker.sid, None)
            idx.drop_worker(ws.index, worker.sid)
            # the worker is deleted right after this hook: nothing may be offered to it any more
            self.work.forget_worker(worker.sid)

    # --- task status changes ----------------------------------------------------------------------
    def change_task_status(self, ws: WorkspaceTables, task: Task, status: str, reason: str | None) -> None:
        """Apply a validated ``AssignmentStatus`` change and log its events."""
        with self._batching:
            if status == CANCELED:
                self.cancel_task(ws, task, reason)
            elif status == WRAPPING:
                lifecycle.move_task(task, WRAPPING)
                for reservation in self._task_reservations(ws, task, RS.ACCEPTED):
                    self._set_reservation(ws, reservation, RS.WRAPPING, "reservation.wrapup")
                ws.emit("task.wrapup", task=task)
                activities.post_work(ws, self._task_reservations(ws, task, RS.WRAPPING, RS.COMPLETED))
            elif status == COMPLETED:
                lifecycle.move_task(task, COMPLETED)
                for reservation in self._task_reservations(ws, task, RS.ACCEPTED, RS.WRAPPING):
                    self._set_reservation(ws, reservation, RS.COMPLETED, "reservation.completed")
                    self._free_assigned(ws, reservation, task)
                    # the freed capacity is offered to waiting work
                    self.work.want_worker(ws, reservation.worker_sid)
                ws.emit("task.completed", task=task)
                activities.post_work(ws, self._task_reservations(ws, task, RS.WRAPPING, RS.COMPLETED))
                self._finish(ws, task)

    def cancel_task(self, ws: WorkspaceTables, task: Task, reason: str | None) -> None:
        with self._batching:
            pending = self._task_reservations(ws, task, RS.PENDING)
            # the task is canceled before its offers end, so their events carry the canceled task
            lifecycle.move_task(task, CANCELED, ws.now())
            if reason is not None:
                task.reason = reason
            for reservation in pending:
                self._end_reservation(ws, reservation, RS.CANCELED)
                activities.restore(ws, reservation)
                self.work.want_worker(ws, reservation.worker_sid)
            idx.sync_task(ws, ws.index, task)
            ws.emit("task.canceled", task=task)
            self._finish(ws, task)

    def remove_task(self, ws: WorkspaceTables, task_sid: str, *, system: bool, event_type: str | None = None) -> None:
        """Delete a task: an API delete (``task.deleted``), the system's clean-up of a finished task
        (no event) or of a task left assigned for 24 hours (``task.system-deleted``)."""
        with self._batching:
            task = ws.tasks.get(task_sid)
            if task is None:
                return
            ix = ws.index
            if not system:
                for reservation in self._task_reservations(ws, task, RS.PENDING):
                    self._end_reservation(ws, reservation, RS.CANCELED)
                    activities.restore(ws, reservation)
            for reservation in self._task_reservations(ws, task, RS.ACCEPTED, RS.WRAPPING):
                if not system:
                    # [I] an API delete ends the work the worker holds: reservation.completed, as the
                    # Worker SDK's specs expect ("should delete the task and receive the completed event")
                    self._end_reservation(ws, reservation, RS.COMPLETED)
                # [I] deleting an assigned task frees the worker's capacity
                self._free_assigned(ws, reservation, task)
            # https://www.twilio.com/docs/taskrouter/api/event/reference: task.deleted is an API delete and
            # "does not include auto-deleted Tasks after cancelation/completion"; task.system-deleted is
            # "deleted via the system, after the task reaches its TTL". [I] So the system's clean-up logs
            # it for a task that ended by its TTL, or one still assigned, and not for the ordinary
            # clean-up of tasks canceled or completed otherwise.
            if event_type is None and not system:
                event_type = "task.deleted"
            elif event_type is None and (task.reason == TTL_REASON or task.assignment_status in HELD):
                event_type = "task.system-deleted"
            ws.timers.cancel_task(task_sid)
            ws.task_routing.pop(task_sid, None)
            for reservation in list(ix.by_task.get(task_sid, {}).values()):
                ws.reservations.pop(reservation.sid, None)
                idx.unindex_reservation(ix, reservation)
                ws.timers.cancel(lifecycle.RESERVATION, reservation.sid)
                worker = ws.workers.get(reservation.worker_sid)
                if worker is not None:
                    idx.refresh_worker(ws, ix, worker)
                    self.work.want_worker(ws, reservation.worker_sid)
            idx.drop_task(ix, task_sid)
            del ws.tasks[task_sid]
            if event_type is not None:
                ws.emit(event_type, task=task)

    # --- routing: where a task goes, and to whom ------------------------------------------------------
    def _start_routing(self, ws: WorkspaceTables, task: Task) -> None:
        if not steps.start_routing(ws, task):
            self.cancel_task(ws, task, steps.WORKFLOW_SKIPPED_REASON)

    def _assign_task(self, ws: WorkspaceTables, task: Task) -> None:
        """Give ``task`` reservations with the best eligible workers of its current target, looking
        only at the workers free to take it in its queue."""
        if task.assignment_status not in WAITING or idx.held_for_worker(ws, task):
            return
        state, target = matching.current(ws, task)
        if state is None or target is None or state.route is None:
            return
        ix = ws.index
        pending = len(self._task_reservations(ws, task, RS.PENDING))
        need = lifecycle.max_reservations(ws, task, state) - pending
        if need <= 0:
            return
        if state.route.worker_sid:
            worker = ws.workers.get(state.route.worker_sid)
            if worker is not None and matching.eligible(ws, ix, task, state, target, worker):
                self._reserve(ws, task, worker)
            return
        pool = ix.free.get((task.task_queue_sid, task.task_channel_sid))
        if not pool:
            return
        if target.known_worker_sid is not None:
            sid = matching.known_worker(task, target.known_worker_sid)
            candidates = [ws.workers[sid]] if isinstance(sid, str) and sid in pool and sid in ws.workers else []
        elif target.order_by or target.known_worker_friendly_name is not None:
            candidates = [ws.workers[sid] for sid in pool if sid in ws.workers]
        else:
            # no order_by: the pool's own order (longest idle first) is the answer; stop at `need`
            chosen = []
            entries = pool.in_order()
            try:
                for entry in entries:
                    worker = ws.workers.get(entry[1])
                    if worker is not None and matching.eligible(ws, ix, task, state, target, worker):
                        chosen.append(worker)
                        if len(chosen) == need:
                            break
            finally:
                entries.close()
            for worker in chosen:
                self._reserve(ws, task, worker)
            return
        eligible = [w for w in candidates if matching.eligible(ws, ix, task, state, target, w)]
        for worker in matching.worker_order(ws, ix, task, target, eligible)[:need]:
            self._reserve(ws, task, worker)

    def _offer_worker(self, ws: WorkspaceTables, worker: Worker) -> None:
        """Offer a worker who may have capacity the waiting tasks of its queues, best first: FIFO
        queues by priority then age, LIFO queues newest first; between queues of both kinds the
        workspace's PrioritizeQueueOrder decides which kind goes first
        (https://www.twilio.com/docs/taskrouter/queue-ordering-last-first-out-lifo)."""
        ix = ws.index
        direct = ix.direct.get(worker.sid)
        if not ws.worker_available(worker):
            # only tasks routed to this worker ignoring capacity can still reach it
            if direct:
                for sid in sorted(direct, key=lambda sid: ix.task_seq.get(sid, -1)):
                    task = ws.tasks.get(sid)
                    if task is not None and task.ignore_capacity and task.routing_target == worker.sid:
                        self._assign_task(ws, task)
            return
        streams = []
        if direct:
            streams.append((0 if ws.prioritize_queue_order == "FIFO" else 1, direct, None))
        _, free = ix.free_state.get(worker.sid, (None, frozenset()))
        for queue_sid in ix.queues_of.get(worker.sid, ()):
            queue = ws.task_queues.get(queue_sid)
            if queue is None:
                continue
            rank = 0 if queue.task_order == ws.prioritize_queue_order else 1
            for channel_sid in free:
                tasks = ix.waiting.get((queue_sid, channel_sid))
                if tasks:
                    streams.append((rank, tasks, channel_sid))
        if not streams:
            return
        iterators = [stream[1].in_order() for stream in streams]
        heap = []
        try:
            for i, entries in enumerate(iterators):
                entry = next(entries, None)
                if entry is not None:
                    heap.append(((streams[i][0], *entry[0]), i, entry[1]))
            heapq.heapify(heap)
            while heap:
                _, i, sid = heapq.heappop(heap)
                channel_sid = streams[i][2]
                if channel_sid is not None and not (worker.sid in ix.free_state and
                                                    channel_sid in ix.free_state[worker.sid][1]):
                    continue  # the worker is full on this channel: the rest of this stream cannot have it
                self._offer(ws, ix, worker, sid)
                if channel_sid is not None and not (worker.sid in ix.free_state and
                                                    channel_sid in ix.free_state[worker.sid][1]):
                    continue  # now full on this channel (offers only add load): the stream is done
                entry = next(iterators[i], None)
                if entry is not None:
                    heapq.heappush(heap, ((streams[i][0], *entry[0]), i, entry[1]))
        finally:
            for entries in iterators:
                entries.close()

    def _offer(self, ws: WorkspaceTables, ix: RoutingIndex, worker: Worker, task_sid: str) -> None:
        task = ws.tasks.get(task_sid)
        if task is None or task.assignment_status not in WAITING or worker.sid not in ws.workers:
            return
        state, target = matching.current(ws, task)
        if state is None or target is None:
            return
        if len(self._task_reservations(ws, task, RS.PENDING)) >= lifecycle.max_reservations(ws, task, state):
            return
        if matching.eligible(ws, ix, task, state, target, worker):
            self._reserve(ws, task, worker)

    def _reserve(self, ws: WorkspaceTables, task: Task, worker: Worker) -> None:
        now = ws.now()
        reservation = Reservation(ws.new_sid("WR"), ws.account_sid, ws.sid, task.sid, worker.sid, RS.PENDING, now, now)
        transfers.offered(ws, task, reservation)  # of a task transferred to a queue: the transfer's offer
        ws.reservations[reservation.sid] = reservation
        idx.index_reservation(ws.index, reservation)
        state = ws.task_routing[task.sid]
        if task.assignment_status == PENDING:
            state.attempts += 1
        lifecycle.move_task(task, RESERVED, now)
        self._set_reservation(ws, reservation, RS.PENDING, "reservation.created")
        workflow = ws.workflows.get(task.workflow_sid) if task.workflow_sid else None
        seconds = workflow.task_reservation_timeout if workflow else DEFAULT_RESERVATION_TIMEOUT
        ws.timers.start(lifecycle.RESERVATION, reservation.sid, seconds)
        activities.reserved(ws, reservation, task, worker)

    # --- reservations -----------------------------------------------------------------------------------
    def _release(self, ws: WorkspaceTables, reservation: Reservation, status: str, *, exclude: bool,
                 declined: bool = False) -> None:
        """A pending reservation ends unaccepted: its task goes back to routing (or to its transferer)."""
        if reservation.transfer_sid is not None:
            transfers.failed(self, ws, reservation, status)
            return
        self._end_reservation(ws, reservation, status)
        task = ws.tasks.get(reservation.task_sid)
        if reservation.worker_sid in ws.workers:
            self.work.want_worker(ws, reservation.worker_sid)
        if task is None or task.assignment_status != RESERVED:
            return
        state = ws.task_routing.setdefault(task.sid, TaskRouting())
        if exclude:
            state.excluded.add(reservation.worker_sid)
        if declined:  # for this round of offers only (TaskRouting.declined)
            state.declined.add(reservation.worker_sid)
        if self._task_reservations(ws, task, RS.PENDING):
            return
        state.declined.clear()
        lifecycle.move_task(task, PENDING, ws.now())
        if state.attempts >= lifecycle.MAX_RESERVATION_ATTEMPTS:
            self.cancel_task(ws, task, lifecycle.ATTEMPTS_REASON)
            return
        self.work.want_task(ws, task.sid)

    def _set_reservation(self, ws: WorkspaceTables, reservation: Reservation, status: str, event_type: str) -> None:
        before = reservation.reservation_status
        lifecycle.move_reservation(reservation, status, ws.now())
        if status != RS.PENDING and before == RS.PENDING:  # (only a pending reservation has a timer)
            ws.timers.cancel(lifecycle.RESERVATION, reservation.sid)
        task = ws.tasks.get(reservation.task_sid)
        worker = ws.workers.get(reservation.worker_sid)
        ix = ws.index
        live = ix.live.setdefault(reservation.worker_sid, {})
        if status in LOAD_STATUSES:
            live[reservation.sid] = reservation
        else:
            live.pop(reservation.sid, None)
        if not live:
            del ix.live[reservation.worker_sid]
        # from one held status to another (accepted, wrapping) the worker's load is the same: only
        # a new offer (just indexed) or an ending one changes what it is free for
        if worker is not None and not (before != status and before in LOAD_STATUSES and status in LOAD_STATUSES):
            idx.refresh_worker(ws, ix, worker)
        if task is not None:
            idx.sync_task(ws, ix, task)  # it may take more (or no more) reservations
        ws.emit(event_type, reservation=reservation)

    def _end_reservation(self, ws: WorkspaceTables, reservation: Reservation, status: str) -> None:
        self._set_reservation(ws, reservation, status, f"reservation.{status}")

    def update_reservation(self, ws: WorkspaceTables, reservation: Reservation, update: ReservationUpdate) -> None:
        """``ReservationStatus`` / ``Instruction`` updates of a reservation, from the REST API or an
        assignment callback's answer (https://www.twilio.com/docs/taskrouter/api/reservations)."""
        with self._batching:
            for name, sid in update.activity_sids:
                if sid is not None:
                    ws.activity_param(sid, name)
            update.check_shape()
            status = update.reservation_status
            if status is None and update.instruction is None:
                return
            task = ws.tasks.get(reservation.task_sid)
            if task is None:
                raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(
                    path=f"/v1/Workspaces/{ws.sid}/Tasks/{reservation.task_sid}"))
            ws.check_version(reservation, update.if_match, "Reservation")
            if reservation.reservation_status == RS.RESCINDED:
                raise errors.Gone(errors.RESERVATION_RESCINDED.format(sid=reservation.sid))
            if update.instruction is not None:
                accept, post_work = update.check_instruction(ws.multi_task_enabled)
                instruction = update.instruction.lower()
                if instruction == "supervise":
                    instructions.supervise(ws, reservation, update)
                    return
                lifecycle.require_pending(reservation)
                if instruction == "dequeue":
                    instructions.dequeue(ws, reservation, task, update)
                if post_work is not None:
                    # the worker moves there once the work is done (the reservation wraps up or completes)
                    reservation.post_work_activity_sid = post_work
                if accept:
                    self._accept(ws, reservation, task)
                return
            assert status is not None
            lifecycle.check_reservation_update(reservation, task, status)
            if status == RS.ACCEPTED:
                self._accept(ws, reservation, task)
            elif status == RS.REJECTED:
                self._reject(ws, reservation, update.worker_activity_sid)
            else:
                self.change_task_status(ws, task, WRAPPING if status == RS.WRAPPING else COMPLETED, None)

    def _accept(self, ws: WorkspaceTables, reservation: Reservation, task: Task) -> None:
        # the task is assigned before the event is logged: a recorded real reservation.accepted
        # callback carries TaskAssignmentStatus=assigned
        lifecycle.move_task(task, ASSIGNED, ws.now())
        self._set_reservation(ws, reservation, RS.ACCEPTED, "reservation.accepted")  # (it syncs the task)
        ix = ws.index
        if task.sid in ws.task_routing:
            ws.timers.cancel(lifecycle.TARGET, task.sid)
            ws.timers.start(lifecycle.ASSIGNED_LIFETIME, task.sid, ASSIGNED_TASK_LIFETIME)
        for other in self._task_reservations(ws, task, RS.PENDING):
            self._end_reservation(ws, other, RS.RESCINDED)
            activities.restore(ws, other)
            self.work.want_worker(ws, other.worker_sid)
        channel = self._channel_for(ws, reservation.worker_sid, task)
        if channel is not None:
            channel.assigned_tasks += 1
        ws.last_assigned[reservation.worker_sid] = ws.now()
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None:
            idx.refresh_worker(ws, ix, worker)  # its idle time restarts now
        if worker is not None:
            activities.assigned(ws, task, worker)
        transfers.accepted(self, ws, reservation, task)  # a transfer's offer: the transfer completes

    def _reject(self, ws: WorkspaceTables, reservation: Reservation, activity_sid: str | None) -> None:
        # A worker who rejects and stays available may be offered the same task again: the real
        # service ends such loops with its 1,000-attempt cancel, and its docs advise passing
        # WorkerActivitySid on reject for this reason (https://www.twilio.com/docs/taskrouter/api/reservations).
        self._release(ws, reservation, RS.REJECTED, exclude=False, declined=True)
        worker = ws.workers.get(reservation.worker_sid)
        if worker is not None and activity_sid:
            if worker.activity_sid != activity_sid:
                ws.set_worker_activity(worker, activity_sid)
        else:
            activities.restore(ws, reservation)

    def create_transfer(self, ws: WorkspaceTables, reservation: Reservation, task: Task, to: str, mode: str,
                        attributes: tuple[str, dict] | None, priority: int | None) -> Transfer:
        with self._batching:
            return transfers.create(self, ws, reservation, task, to, mode, attributes, priority)

    def cancel_transfer(self, ws: WorkspaceTables, transfer: Transfer) -> None:
        with self._batching:
            transfers.cancel(self, ws, transfer)

    # --- helpers --------------------------------------------------------------------------------------
    def _finish(self, ws: WorkspaceTables, task: Task) -> None:
        """A task reached ``canceled`` or ``completed``: it is deleted five minutes later. Its
        routing state is over (a finished task is never routed again): it goes now."""
        ws.timers.cancel_task(task.sid)
        ws.task_routing.pop(task.sid, None)
        idx.sync_task(ws, ws.index, task)
        ws.timers.start(lifecycle.DELETION, task.sid, FINISHED_TASK_RETENTION)

    @staticmethod
    def _task_reservations(ws: WorkspaceTables, task: Task, *statuses: str) -> list[Reservation]:
        rows = ws.index.by_task.get(task.sid)
        if not rows:
            return []
        return [r for r in rows.values() if r.reservation_status in statuses]

    @staticmethod
    def _channel_for(ws: WorkspaceTables, worker_sid: str, task: Task) -> WorkerChannel | None:
        worker = ws.workers.get(worker_sid)
        return worker.channels.get(task.task_channel_sid) if worker else None

    def _free_assigned(self, ws: WorkspaceTables, reservation: Reservation, task: Task) -> None:
        channel = self._channel_for(ws, reservation.worker_sid, task)
        if channel is not None and channel.assigned_tasks > 0:
            channel.assigned_tasks -= 1


TIMER_HANDLERS: dict[str, Callable[[Router, WorkspaceTables, str], None]] = {  # the one table: timer kind -> handler
    lifecycle.TTL: Router._ttl_expired,
    lifecycle.TARGET: Router._target_expired,
    lifecycle.RESERVATION: Router._reservation_expired,
    lifecycle.ASSIGNED_LIFETIME: Router._assigned_expired,
    lifecycle.DELETION: Router._finished_expired,
    lifecycle.EVENT_EXPIRY: lambda router, ws, subject: ws.expire_events(),
}
assert set(TIMER_HANDLERS) == set(lifecycle.TIMER_KINDS)
