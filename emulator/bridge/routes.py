"""``POST /v1/wschannels``: the REST calls the Worker SDK makes, proxied as JSON.

Body ``{"url": "Workspaces/WS…/Workers/WK…", "method": "GET"|"POST", "params": {PascalCase…},
"token": "<JWT>"}``; answer ``200 {"payload": …}`` or the HTTP status with ``{"message": …}`` (the
SDK reads ``message``; it calls ``response.json()`` even on errors).

Each ``url`` maps to the REST v1 operation of the same path (``WorkerChannels`` is REST's
``Channels``), and runs that operation's own handler with its parameter parsing, so every rule is
the engine's, once; only the drawing (``shapes.BridgeRenderer``) and the EB-only list parameters
(``Active``, ``AfterSid``, ``NextToken``) are the bridge's.
"""

from __future__ import annotations

import json
from typing import cast

from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from .. import errors, spec
from ..http import params as http_params
from ..http.registry import HANDLERS, Call
from ..http.render import Renderer
from . import shapes
from .shapes import BridgeRenderer
from .tokens import Grant

# Bridge-only resources and voice calls: routes the SDK has that no REST v1 operation serves.
TRANSFERS = "transfers"
VOICE = "voice"
EXTRA_RULES = (
    ("Workspaces/<WorkspaceSid>/Workers/<WorkerSid>/Transfers", TRANSFERS),
    ("Workspaces/<WorkspaceSid>/Workers/<WorkerSid>/Transfers/<Sid>", TRANSFERS),
    *((f"Workspaces/<WorkspaceSid>/Workers/<WorkerSid>/{name}", VOICE)
      for name in ("CustomerParticipant", "WorkerParticipant", "HoldWorkerParticipant", "KickWorkerParticipant")),
)
METHODS = ("GET", "POST", "DELETE")


def _build_map() -> Map:
    rules = []
    for op in spec.operations().values():
        path = op.flask_rule.removeprefix("/v1/")
        rules.append(Rule("/" + path, endpoint=op.operation_id, methods=[op.method]))
        if "/Workers/<WorkerSid>/Channels" in path:
            # the SDK's name for a worker's channels (measured against Event Bridge)
            alias = path.replace("/Channels", "/WorkerChannels")
            rules.append(Rule("/" + alias, endpoint=op.operation_id, methods=[op.method]))
    for path, endpoint in EXTRA_RULES:
        rules.append(Rule("/" + path, endpoint=endpoint, methods=list(METHODS)))
    return Map(rules, strict_slashes=False, merge_slashes=False)


URL_MAP = _build_map()


def form_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)  # Attributes arrive as a JSON object
    return str(value)


def request_params(raw) -> MultiDict:
    if raw is None:
        return MultiDict()
    if not isinstance(raw, dict):
        raise errors.InvalidParameter(errors.BRIDGE_BAD_BODY.format(reason="params must be a JSON object"))
    items: list[tuple[str, str]] = []
    for key, value in raw.items():
        if value is None:
            continue
        if isinstance(value, list) and key != "Attributes":
            items.extend((key, form_value(v)) for v in value)
        else:
            items.append((key, form_value(value)))
    return MultiDict(items)


def parse_body(data: bytes) -> tuple[str, str, MultiDict, object]:
    try:
        body = json.loads(data or b"null")
    except (ValueError, UnicodeDecodeError):
        raise errors.InvalidParameter(errors.BRIDGE_BAD_BODY.format(reason="the body is not JSON")) from None
    if not isinstance(body, dict):
        raise errors.InvalidParameter(errors.BRIDGE_BAD_BODY.format(reason="the body must be a JSON object"))
    url, method = body.get("url"), body.get("method") or "GET"
    if not isinstance(url, str) or not url:
        raise errors.InvalidParameter(errors.BRIDGE_BAD_BODY.format(reason="url is required"))
    if not isinstance(method, str) or method.upper() not in METHODS:
        reason = f"method {method!r} is not one of {', '.join(METHODS)}"
        raise errors.InvalidParameter(errors.BRIDGE_BAD_BODY.format(reason=reason))
    return url, method.upper(), request_params(body.get("params")), body.get("token")


def match(url: str, method: str) -> tuple[str, dict]:
    path = "/" + url.split("?", 1)[0].strip("/")
    try:
        endpoint, values = URL_MAP.bind("").match(path, method=method)
        return str(endpoint), dict(values)
    except (NotFound, MethodNotAllowed):
        raise errors.NotFound(errors.BRIDGE_NO_ROUTE.format(url=url)) from None


# What a ``worker`` token may change besides its own worker: the tasks the Worker SDK creates
# (``worker.createTask``) and updates (``task.complete()``, ``setAttributes``...) and their reservations.
WORKER_TASK_CHANGES = frozenset({"CreateTask", "UpdateTask", "UpdateTaskReservation"})
# POSTs that only read
WORKER_READS = frozenset({"CreateTaskQueueBulkRealTimeStatistics"})


def authorize(grant: Grant, endpoint: str, method: str, path: dict, url: str) -> None:
    """Roles (inferred from the SDK's specs): ``admin`` and ``supervisor`` act on the whole
    workspace; ``worker`` reads it and changes only its own worker and that worker's reservations,
    and tasks (the SDK's task routes), never the workspace's configuration."""
    workspace_sid = path.get("WorkspaceSid") or (path.get("Sid") if endpoint.endswith("Workspace") else None)
    if workspace_sid != grant.workspace_sid:
        raise errors.Forbidden(errors.TOKEN_OTHER_WORKSPACE.format(granted=grant.workspace_sid,
                                                                   requested=workspace_sid))
    if grant.role != "worker" or method == "GET" or endpoint in WORKER_READS:
        return
    target = path.get("WorkerSid") or (path.get("Sid") if endpoint in ("UpdateWorker", "DeleteWorker") else None)
    if target is not None and target != grant.worker_sid:
        raise errors.Forbidden(errors.ROLE_OTHER_WORKER.format(worker_sid=grant.worker_sid, target=target))
    if target is None and endpoint not in WORKER_TASK_CHANGES:
        # the workspace's configuration (itself, activities, queues, workflows, channels, workers)
        raise errors.Forbidden(errors.ROLE_WORKSPACE_CHANGE.format(worker_sid=grant.worker_sid, method=method,
                                                                   url=url))


def call_operation(backend, grant: Grant, endpoint: str, path: dict, values: MultiDict, url: str, method: str,
                   headers) -> dict:
    """Run the REST v1 handler of ``endpoint`` and return the bridge's payload (caller holds the lock)."""
    if endpoint == VOICE:
        raise errors.NotImplementedByEmulator(errors.BRIDGE_VOICE.format(method=method, url=url))
    if endpoint == TRANSFERS:
        return transfer_operation(backend, grant, path, values, method)
    op = spec.operations()[endpoint]
    if method == "POST" and _collection(op.flask_rule) not in DRAWN_COLLECTIONS:
        # refused before the handler runs: a change must not be made and then answered with an error
        raise errors.NotImplementedByEmulator(errors.BRIDGE_NOT_DRAWN.format(resource=_collection(op.flask_rule)))
    handler = HANDLERS.get(endpoint)
    if handler is None:
        raise errors.NotImplementedByEmulator(errors.NOT_SERVED.format(operation=endpoint))
    try:
        http_params.check_path(op, path)
    except errors.NotFound:
        raise errors.NotFound(errors.BRIDGE_NO_ROUTE.format(url=url)) from None
    parsed = http_params.parse(op, values, values, _headers(headers))
    active = endpoint == "ListWorkerReservation" and values.get("Active", "").lower() == "true"
    # the handlers call only the renderer methods BridgeRenderer draws (anything else is refused)
    renderer = cast(Renderer, BridgeRenderer(active_only=active, change=method != "GET"))
    call = Call(endpoint, backend, grant.account_sid, parsed, path, renderer,
                "/v1/" + url.strip("/"), values, values)
    reply = handler(call)
    return reply.body if reply.body is not None else {}


def transfer_operation(backend, grant: Grant, path: dict, values: MultiDict, method: str) -> dict:
    """The Transfers resource, which only the bridge has: ``POST Workers/WK/Transfers`` starts one,
    ``POST Workers/WK/Transfers/TT`` with ``TransferStatus=canceled`` withdraws it, ``GET`` reads it."""
    ws = backend.get_workspace(grant.account_sid, path["WorkspaceSid"])
    worker_sid, sid = path["WorkerSid"], path.get("Sid")
    if sid is None and method == "POST":
        for name in ("ReservationSid", "TaskSid", "To"):
            if not values.get(name):
                raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name=name))
        priority = values.get("Priority")
        if priority is not None and not priority.lstrip("-").isdigit():
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Priority", reason="not an integer"))
        transfer = ws.create_transfer(worker_sid, reservation_sid=values["ReservationSid"], task_sid=values["TaskSid"],
                                      to=values["To"], mode=values.get("Mode"), attributes=values.get("Attributes"),
                                      priority=int(priority) if priority is not None else None)
    elif sid is not None and method == "POST":
        transfer = ws.cancel_transfer(worker_sid, sid, status=values.get("TransferStatus"))
    elif sid is not None and method == "GET":
        transfer = ws.get_transfer(sid, worker_sid=worker_sid)
    else:
        raise errors.MethodNotAllowed(errors.METHOD_NOT_ALLOWED.format(method=method, path=f"Workers/{worker_sid}/Transfers"))
    return shapes.transfer(transfer)


# The collections whose objects ``shapes.BridgeRenderer`` draws (a POST answers with one of them).
DRAWN_COLLECTIONS = frozenset({"Workers", "Tasks", "Reservations", "Activities", "Channels", "TaskQueues"})


def _collection(rule: str) -> str:
    """The last fixed segment of a REST v1 rule: ``/v1/Workspaces/<WorkspaceSid>/Tasks/<Sid>`` -> Tasks."""
    return next(part for part in reversed(rule.split("/")) if part and not part.startswith("<"))


def _headers(headers) -> dict:
    # Only If-Match travels (the SDK's enableVersionCheck); the rest are the bridge's own.
    value = headers.get("If-Match")
    return {"If-Match": value} if value else {}


def check_grant_targets(backend, grant: Grant) -> None:
    """The workspace and worker a token names must exist (checked on every upgrade and request)."""
    workspace = backend.workspaces(grant.account_sid).get(grant.workspace_sid)
    if workspace is None:
        raise errors.Forbidden(errors.TOKEN_WORKSPACE_GONE.format(workspace_sid=grant.workspace_sid,
                                                                  account_sid=grant.account_sid))
    if grant.worker_sid is not None and grant.worker_sid not in workspace.workers:
        raise errors.Forbidden(errors.TOKEN_WORKER_GONE.format(worker_sid=grant.worker_sid,
                                                               workspace_sid=grant.workspace_sid))


