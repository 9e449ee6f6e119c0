"""Handlers registered by the official spec's ``operationId``.

A handler takes a ``Call`` (the account, the parsed parameters, the path values and the
renderer) and returns ``Reply``; it holds no business rules: parse, call the engine, render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from ..engine.backend import Backend
from ..engine.listing import Listing
from ..engine.workspace import Workspace
from .render import Renderer

HANDLERS: dict[str, Callable] = {}


def operation(*operation_ids: str):
    """Register the decorated function as the handler of these operationIds."""

    def register(func):
        for operation_id in operation_ids:
            if operation_id in HANDLERS:
                raise RuntimeError(f"{operation_id} registered twice")
            HANDLERS[operation_id] = func
        return func

    return register


@dataclass
class Reply:
    body: dict | None
    status: int = 200
    headers: dict = field(default_factory=dict)


@dataclass
class Call:
    operation_id: str
    backend: Backend
    account_sid: str
    params: dict
    path: dict
    render: Renderer
    request_path: str
    query: MultiDict  # the raw query MultiDict, for paging links
    form: MultiDict  # the raw form MultiDict, for parameters the spec does not declare

    def workspace(self) -> Workspace:
        return self.backend.get_workspace(self.account_sid, self.path.get("WorkspaceSid") or self.path["Sid"])

    def p(self, name: str, default=None):
        return self.params.get(name, default)

    def page(self, key: str, items: list | Listing, render) -> Reply:
        return Reply(self.render.page(self.request_path, self.query, key, items, render))
