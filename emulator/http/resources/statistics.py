"""Statistics of the workspace, workflows, task queues and workers (the 15 *Statistics operations).

Thin handlers: read the window parameters, ask ``emulator.engine.statistics`` for the figures,
render. The three flavours of each family share one handler: ``RealTimeStatistics`` (now),
``CumulativeStatistics`` (a window) and ``Statistics`` (both, under ``realtime`` and ``cumulative``).
"""

from flask import request

from ...engine import queries
from ...engine import statistics as stats
from ..registry import Call, Reply, operation

REALTIME, CUMULATIVE, BOTH = "RealTimeStatistics", "CumulativeStatistics", "Statistics"


def _kind(call: Call) -> str:
    return call.request_path.rstrip("/").rsplit("/", 1)[-1]


def _window(call: Call, ws) -> stats.Window:
    return stats.window(ws, minutes=call.p("minutes"), start_date=call.p("start_date"), end_date=call.p("end_date"),
                        task_channel=call.p("task_channel"), split_by_wait_time=call.p("split_by_wait_time"))


def _figures(call: Call, ws, realtime, cumulative) -> dict:
    """Validate first (a rejected request computes nothing), then compute what the flavour shows."""
    kind = _kind(call)
    win = _window(call, ws) if kind != REALTIME else None
    channel = stats.channel_of(ws, call.p("task_channel"))
    if kind == REALTIME:
        return realtime(channel)
    if kind == CUMULATIVE:
        return cumulative(win)
    return {"realtime": realtime(channel), "cumulative": cumulative(win)}


@operation("FetchWorkspaceStatistics", "FetchWorkspaceRealTimeStatistics", "FetchWorkspaceCumulativeStatistics")
def workspace_statistics(call: Call) -> Reply:
    ws = call.workspace()
    figures = _figures(call, ws, lambda ch: stats.workspace_realtime(ws, ch),
                       lambda win: stats.workspace_cumulative(ws, win))
    return Reply(call.render.statistics(ws, (_kind(call),), figures))


@operation("FetchWorkflowStatistics", "FetchWorkflowRealTimeStatistics", "FetchWorkflowCumulativeStatistics")
def workflow_statistics(call: Call) -> Reply:
    ws = call.workspace()
    sid = call.path["WorkflowSid"]
    ws.get_workflow(sid)
    figures = _figures(call, ws, lambda ch: stats.workflow_realtime(ws, sid, ch),
                       lambda win: stats.workflow_cumulative(ws, sid, win))
    return Reply(call.render.statistics(ws, ("Workflows", sid, _kind(call)), figures, workflow_sid=sid))


@operation("FetchTaskQueueStatistics", "FetchTaskQueueRealTimeStatistics", "FetchTaskQueueCumulativeStatistics")
def task_queue_statistics(call: Call) -> Reply:
    ws = call.workspace()
    sid = call.path["TaskQueueSid"]
    ws.get_task_queue(sid)
    figures = _figures(call, ws, lambda ch: stats.queue_realtime(ws, sid, ch),
                       lambda win: stats.queue_cumulative(ws, sid, win))
    return Reply(call.render.statistics(ws, ("TaskQueues", sid, _kind(call)), figures, task_queue_sid=sid))


@operation("ListTaskQueuesStatistics")
def task_queues_statistics(call: Call) -> Reply:
    ws = call.workspace()
    win = _window(call, ws)
    queues = queries.task_queues(ws, friendly_name=call.p("friendly_name"))
    realtime = stats.QueueFigures(ws, win.channel_sid)
    # figures are computed for the queues of the page being rendered only
    return call.page("task_queues_statistics", queues, lambda q: call.render.task_queues_statistics_item(
        ws, q.sid, realtime(q.sid), stats.queue_cumulative(ws, q.sid, win)))


@operation("CreateTaskQueueBulkRealTimeStatistics")
def task_queues_bulk_real_time_statistics(call: Call) -> Reply:
    ws = call.workspace()
    # The one operation whose body is JSON: {"QueueSids": [...]} (the docs' curl example spells
    # it queueSids); a form with repeated QueueSids is accepted too.
    body = request.get_json(silent=True) if request.is_json else None
    if isinstance(body, dict):
        raw = body.get("QueueSids", body.get("queueSids"))
    else:
        raw = [part for value in call.form.getlist("QueueSids") for part in value.split(",") if part]
    sids = stats.bulk_queue_sids(raw)
    channel = stats.channel_of(ws, call.p("task_channel"))
    return Reply(call.render.task_queue_bulk_statistics(ws, stats.queues_realtime(ws, sids, channel)))


@operation("FetchWorkersRealTimeStatistics", "FetchWorkersCumulativeStatistics", "FetchWorkerStatistics")
def workers_statistics(call: Call) -> Reply:
    ws = call.workspace()
    workers = stats.select_workers(ws, friendly_name=call.p("friendly_name"), task_queue_sid=call.p("task_queue_sid"),
                                   task_queue_name=call.p("task_queue_name"))
    figures = _figures(call, ws, lambda ch: stats.workers_realtime(ws, ch, workers),
                       lambda win: stats.workers_cumulative(ws, win, workers))
    return Reply(call.render.statistics(ws, ("Workers", _kind(call)), figures))


@operation("FetchWorkerInstanceStatistics")
def worker_statistics(call: Call) -> Reply:
    ws = call.workspace()
    sid = call.path["WorkerSid"]
    ws.get_worker(sid)
    figures = {"cumulative": stats.worker_cumulative(ws, sid, _window(call, ws))}
    return Reply(call.render.statistics(ws, ("Workers", sid, BOTH), figures, worker_sid=sid))
