"""Watching a twilio client's traffic: which operation each response answered, and its shape.

A ``Recorder`` hooks into the ``requests`` session of a ``twilio.rest.Client`` (the same hook
works whether the session reaches the real service, the emulator in-process or a server), so
what is recorded is exactly what the client received. It keeps, per operation and status, the
merged shape of every response; and, per callback kind and event type, the merged shape of every
callback handed to ``add_callback``. It also remembers what each call created, so a test run
against the real service can delete it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

from .. import spec
from . import shapes


@lru_cache(maxsize=1)
def _url_map() -> Map:
    rules = [Rule(op.flask_rule, endpoint=op.operation_id, methods=[op.method])
             for op in spec.operations().values()]
    return Map(rules, strict_slashes=False, merge_slashes=False)


def operation_for(method: str, url: str) -> str | None:
    """The operationId of the official spec that ``method url`` calls (None when none does)."""
    adapter = _url_map().bind("taskrouter.twilio.com")
    try:
        endpoint, _ = adapter.match(urlsplit(url).path, method=method.upper())
    except HTTPException:
        return None
    return str(endpoint)


def response_key(operation_id: str, status: int) -> str:
    """How a response shape is named: ``CreateWorkspace.201``, ``FetchTask.404``."""
    return f"{operation_id}.{status}"


def callback_key(kind: str, event_type: str | None) -> str:
    """How a callback shape is named: ``event.task.created``, ``assignment``."""
    return f"{kind}.{event_type}" if kind == "event" else kind


@dataclass
class Recorder:
    """Shapes of every response a client received and of every callback handed in, merged by key."""

    responses: dict[str, dict] = field(default_factory=dict)
    callbacks: dict[str, dict] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)  # URLs of resources created, oldest first
    paused: bool = False  # while True nothing is recorded (cleaning up is not part of a scenario)

    def attach(self, client) -> Recorder:
        """Record every response ``client`` (a ``twilio.rest.Client``) receives from now on."""
        session = getattr(client.http_client, "session", None)
        if session is None:
            raise TypeError("the client's http_client has no requests session to watch")
        session.hooks.setdefault("response", []).append(self.on_response)
        return self

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Record nothing inside the block (setting up or cleaning up is not part of a scenario)."""
        before, self.paused = self.paused, True
        try:
            yield
        finally:
            self.paused = before

    def reset_shapes(self) -> None:
        """Forget the shapes recorded so far (what was created is still remembered for clean-up)."""
        self.responses.clear()
        self.callbacks.clear()
        self.samples.clear()

    def on_response(self, response, *args, **kwargs):
        request = response.request
        if self.paused:
            return response
        operation = operation_for(request.method, request.url)
        if operation is None:
            return response
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        self.add_response(operation, response.status_code, body, response.headers)
        if (operation.startswith("Create") and response.status_code == 201 and isinstance(body, dict)
                and isinstance(body.get("url"), str)):
            self.created.append(body["url"])
        return response

    def add_response(self, operation_id: str, status: int, body: Any, headers: Mapping[str, str]) -> None:
        key = response_key(operation_id, status)
        self.responses[key] = shapes.merge_response(self.responses.get(key),
                                                    shapes.response_shape(status, body, headers))
        self.samples[key] = self.samples.get(key, 0) + 1

    def add_callback(self, kind: str, event_type: str | None, params: Mapping[str, str]) -> None:
        key = callback_key(kind, event_type)
        self.callbacks[key] = shapes.merge(self.callbacks.get(key), shapes.callback_shape(params))
        self.samples[key] = self.samples.get(key, 0) + 1

    def shapes(self) -> dict[str, dict]:
        """Every shape recorded, by key: responses (``{status, headers, body}``) and callbacks."""
        return {**self.responses, **{k: {"callback": v} for k, v in self.callbacks.items()}}

