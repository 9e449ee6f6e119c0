"""The scenarios whose response and callback shapes are recorded against the real service and
compared on the emulator. Each runs on any ``Target`` and leaves nothing behind.

``setup``    the request sequence of a recorded real session (an application's setup: find the
             workspace by name, delete it, create it, read its activities, create workers, queues
             and a workflow), with the same parameters.
``routing``  a recorded real routing session in a single-tasking workspace: a worker, a task routed
             to it, the reservation accepted, the worker made Busy, the task completed, the worker
             deleted; with its event and assignment callbacks.
``families`` every resource family, the task lifecycle, statistics, the Events resource, errors
             and paging (no public recording exists for it yet: recorded by ``record``).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from twilio.base.exceptions import TwilioRestException

from .targets import Target, unique_name

SCENARIOS: dict[str, Callable[[Target], None]] = {}


def scenario(func: Callable[[Target], None]) -> Callable[[Target], None]:
    SCENARIOS[func.__name__] = func
    return func


def run(name: str, target: Target) -> None:
    """Run one scenario, hand its callbacks to the target's recorder, and delete what it made."""
    since, callbacks = len(target.recorder.created), len(target.callbacks())
    try:
        SCENARIOS[name](target)
        target.record_callbacks(callbacks)
    finally:
        target.cleanup(since)


def _callbacks(target: Target) -> str:
    """Where a scenario's callbacks go: the target's receiver, else (live without one) a placeholder,
    so that the resources have the same fields set on every target."""
    return target.callback_url or "http://example.com"


def _activity(ws, name: str) -> str:
    return next(a.sid for a in ws.activities.list() if a.friendly_name == name)


@scenario
def setup(target: Target) -> None:
    workspaces = target.client.taskrouter.v1.workspaces
    name = unique_name("Twilio Workspace")
    events_url = _callbacks(target) + "/events/"
    workspaces.create(friendly_name=name, event_callback_url=events_url)  # an earlier run's workspace
    for found in workspaces.list(friendly_name=name):
        workspaces(found.sid).delete()
    instance = workspaces.create(friendly_name=name, event_callback_url=events_url)
    ws = workspaces(instance.sid)
    unavailable = next(a.sid for a in ws.activities.list() if a.friendly_name == "Unavailable")
    for worker, product, uri in (("Alice", "ProgrammableVoice", "+15005550008"),
                                 ("Bob", "ProgrammableSMS", "+15005550006")):
        ws.workers.create(friendly_name=worker, attributes=json.dumps({"products": [product], "contact_uri": uri}))
    queues = {queue: ws.task_queues.create(friendly_name=queue, target_workers=expression,
                                           assignment_activity_sid=unavailable).sid
              for queue, expression in (("Default", "1==1"), ("SMS", '"ProgrammableSMS" in products'),
                                        ("Voice", '"ProgrammableVoice" in products'))}

    def targets(*names: str) -> list[dict]:
        return [{"queue": queues[n], "priority": 5, "timeout": 5} for n in names]

    configuration = {"task_routing": {
        "filters": [{"filter_friendly_name": "Voice Filter", "expression": 'selected_product=="ProgrammableVoice"',
                     "targets": targets("Voice", "SMS")},
                    {"filter_friendly_name": "SMS Filter", "expression": 'selected_product=="ProgrammableSMS"',
                     "targets": targets("SMS", "SMS")}],
        "default_filter": {"filter_friendly_name": "Default Filter", "queue": queues["Default"],
                           "Expression": "1==1", "priority": 1, "timeout": 5}}}
    assignment_url = _callbacks(target) + "/assignment/"
    ws.workflows.create(friendly_name="Sales", configuration=json.dumps(configuration),
                        assignment_callback_url=assignment_url, fallback_assignment_callback_url=assignment_url,
                        task_reservation_timeout=15)


@scenario
def routing(target: Target) -> None:
    ws, _ = target.create_workspace(template=None, multi_task_enabled=False,
                                    event_callback_url=_callbacks(target) + "/events")
    idle = ws.activities.create(friendly_name="Idle", available=True).sid
    busy = ws.activities.create(friendly_name="Busy", available=False).sid
    queue = ws.task_queues.create(friendly_name="English", target_workers='languages HAS "english"').sid
    configuration = {"task_routing": {"filters": [{"filter_friendly_name": "english",
                                                   "expression": "language=='english'",
                                                   "targets": [{"queue": queue}]}]}}
    workflow = ws.workflows.create(friendly_name="Default", configuration=json.dumps(configuration),
                                   assignment_callback_url=_callbacks(target) + "/assignment").sid
    worker = ws.workers.create(friendly_name="test_user", activity_sid=idle, attributes=json.dumps(
        {"skills": ["general"], "languages": ["english"], "time_zone": "America/Los_Angeles"})).sid
    task = ws.tasks.create(workflow_sid=workflow, attributes=json.dumps(
        {"channel": "SMc213c7d3150cc4fe9dba9892cfa5dc14", "language": "english",
         "from": "SMc213c7d3150cc4fe9dba9892cfa5dc14"})).sid
    [reservation] = target.wait_for(lambda: ws.tasks(task).reservations.list(), lambda found: len(found) == 1,
                                    within=30, what="the task's reservation")
    ws.tasks(task).reservations(reservation.sid).update(reservation_status="accepted")
    ws.workers(worker).update(activity_sid=busy)
    ws.tasks(task).update(assignment_status="completed", reason="conversation over")
    if target.callbacks_available:
        target.wait_for_callback("task.completed", TaskSid=task)
    ws.workers(worker).update(activity_sid=_activity(ws, "Offline"))
    ws.tasks(task).delete()
    ws.workers(worker).delete()
    if target.callbacks_available:
        target.wait_for_callback("worker.deleted", WorkerSid=worker)


@scenario
def families(target: Target) -> None:
    ws, instance = target.create_workspace(event_callback_url=_callbacks(target) + "/events")
    ws.fetch()
    ws.update(timeout_activity_sid=instance.default_activity_sid)
    # activities, channels
    break_ = ws.activities.create(friendly_name="Break", available=False)
    ws.activities(break_.sid).update(friendly_name="Lunch")
    ws.activities(break_.sid).fetch()
    ws.activities.list(page_size=2)
    channel = ws.task_channels.create(friendly_name="Email", unique_name="email")
    ws.task_channels(channel.sid).update(friendly_name="E-mail")
    ws.task_channels(channel.sid).fetch()
    ws.task_channels.list()
    # queues, workers, membership
    queue = ws.task_queues.create(friendly_name="Support", target_workers="skills HAS 'support'")
    ws.task_queues(queue.sid).update(max_reserved_workers=2)
    ws.task_queues(queue.sid).fetch()
    ws.task_queues.list()
    available = _activity(ws, "Available")
    worker = ws.workers.create(friendly_name="agent", attributes=json.dumps({"skills": ["support"]}),
                               activity_sid=available)
    ws.workers(worker.sid).fetch()
    ws.workers.list(task_queue_sid=queue.sid)
    channels = ws.workers(worker.sid).worker_channels.list()
    voice = next(c for c in channels if c.task_channel_unique_name == "voice")
    ws.workers(worker.sid).worker_channels(voice.sid).update(capacity=1)
    ws.workers(worker.sid).worker_channels(voice.sid).fetch()
    # workflow, task lifecycle
    configuration = {"task_routing": {"filters": [{"expression": "type == 'support'",
                                                   "targets": [{"queue": queue.sid}]}],
                                      "default_filter": {"queue": queue.sid}}}
    workflow = ws.workflows.create(friendly_name="Support", configuration=json.dumps(configuration),
                                   task_reservation_timeout=60)
    ws.workflows(workflow.sid).update(task_reservation_timeout=90)
    ws.workflows(workflow.sid).fetch()
    task = ws.tasks.create(workflow_sid=workflow.sid, attributes=json.dumps({"type": "support"}))
    [offer] = target.wait_for(lambda: ws.tasks(task.sid).reservations.list(), lambda found: len(found) == 1,
                              within=30, what="a reservation")
    ws.tasks(task.sid).reservations(offer.sid).fetch()
    ws.workers(worker.sid).reservations.list()
    ws.workers(worker.sid).reservations(offer.sid).fetch()
    ws.tasks(task.sid).reservations(offer.sid).update(reservation_status="accepted")
    ws.tasks(task.sid).update(assignment_status="wrapping")
    ws.tasks(task.sid).update(assignment_status="completed", reason="done")
    ws.tasks.list(assignment_status="completed")
    # statistics
    ws.statistics().fetch()
    ws.real_time_statistics().fetch()
    ws.cumulative_statistics().fetch()
    ws.task_queues(queue.sid).statistics().fetch()
    ws.task_queues(queue.sid).real_time_statistics().fetch()
    ws.task_queues(queue.sid).cumulative_statistics().fetch()
    ws.task_queues.statistics.list()
    ws.workflows(workflow.sid).statistics().fetch()
    ws.workflows(workflow.sid).real_time_statistics().fetch()
    ws.workflows(workflow.sid).cumulative_statistics().fetch()
    ws.workers.statistics().fetch()
    ws.workers.real_time_statistics().fetch()
    ws.workers.cumulative_statistics().fetch()
    ws.workers(worker.sid).statistics().fetch()
    # events
    events = ws.events.list(task_sid=task.sid)
    ws.events(events[0].sid).fetch()
    # errors: 404, 400 and a rejected precondition (412)
    for call in (lambda: ws.tasks("WT" + "0" * 32).fetch(),
                 lambda: ws.task_queues.create(friendly_name="Support"),
                 lambda: ws.tasks(task.sid).update(attributes="{}", if_match="not-the-version")):
        try:
            call()
        except TwilioRestException:
            pass
    ws.tasks(task.sid).delete()
