"""Targets: the emulator or the real TaskRouter, behind one interface that means the same on both.

A test (or a contract scenario) written against a ``Target`` holds on both: it gets a client, a
workspace, and helpers whose meaning does not depend on where time comes from:

``wait_for(fetch, until, within)``
    the state ``until(fetch())`` holds within ``within`` seconds: on the emulator the virtual
    clock is moved one second at a time (timers fire as they would), against the real service
    ``fetch`` is polled every ``poll_interval`` real seconds, never past ``within``.
``wait_for_callback(event_type, within, **fields)``
    an event callback (``kind="assignment"`` for assignment callbacks) whose form fields include
    ``fields`` arrives within ``within`` seconds: the emulator's inbox, or, live, the callback
    receiver (``LiveSettings.callback_url``).
``pass_time(seconds)``
    let time go by: ``clock.advance`` on the emulator, a real (bounded) sleep live.

Live runs are opt-in (``TASKROUTER_LIVE=1``) and need credentials from the environment; see
``LiveSettings.from_environment``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from .recording import Recorder

OPT_IN = "TASKROUTER_LIVE"
CALLBACK_URL = "TASKROUTER_LIVE_CALLBACK_URL"
CALLBACK_PORT = "TASKROUTER_LIVE_CALLBACK_PORT"
# The longest real sleep ``pass_time`` accepts: longer waits belong to emulator-only tests.
MAX_LIVE_SLEEP = 120.0
EMULATOR_CALLBACK_URL = "https://callbacks.example.test/taskrouter"


class LiveRefused(Exception):
    """A live run was asked for without the opt-in or the credentials; the message says what is missing."""


@dataclass(frozen=True)
class LiveSettings:
    """What a live run needs, all from the environment.

    ``TASKROUTER_LIVE=1`` (the opt-in), ``TWILIO_ACCOUNT_SID`` and either ``TWILIO_AUTH_TOKEN`` or
    ``TWILIO_API_KEY`` + ``TWILIO_API_SECRET``. Optional: ``TASKROUTER_LIVE_CALLBACK_URL``, a
    public URL that forwards to ``127.0.0.1:TASKROUTER_LIVE_CALLBACK_PORT`` (default 8788), where
    a receiver records callbacks (without it, callback waits are skipped live).
    """

    account_sid: str
    username: str
    password: str
    callback_url: str | None = None
    callback_port: int = 8788

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LiveSettings:
        env = os.environ if environ is None else environ
        missing = []
        if env.get(OPT_IN) != "1":
            missing.append(f"{OPT_IN}=1 (the opt-in: a live run creates and deletes real resources)")
        account_sid = env.get("TWILIO_ACCOUNT_SID", "")
        if not account_sid:
            missing.append("TWILIO_ACCOUNT_SID")
        key, secret, token = env.get("TWILIO_API_KEY"), env.get("TWILIO_API_SECRET"), env.get("TWILIO_AUTH_TOKEN")
        if not (token or (key and secret)):
            missing.append("TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)")
        if missing:
            raise LiveRefused("a live TaskRouter run needs " + ", ".join(missing)
                              + "; nothing was sent to Twilio")
        port = env.get(CALLBACK_PORT) or "8788"
        if not port.isdigit():
            raise LiveRefused(f"{CALLBACK_PORT} must be a port number, not {port!r}")
        username, password = (key, secret) if key and secret else (account_sid, token)
        return cls(account_sid, str(username), str(password), env.get(CALLBACK_URL) or None, int(port))


@dataclass
class Callback:
    """One callback received: ``kind`` (``event`` or ``assignment``), ``event_type`` and the form ``params``."""

    kind: str
    event_type: str | None
    params: dict


class CallbacksUnavailable(Exception):
    """This target cannot receive callbacks (a live run without a callback URL)."""


class WaitTimeout(AssertionError):
    """What was waited for did not happen in time (an assertion failure of the test)."""


def unique_name(prefix: str = "taskrouter-test") -> str:
    """A workspace name no other run uses: the UTC time and random hex."""
    return f"{prefix}-{datetime.now(timezone.utc):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class Target:
    """The common part: a client, its recorder, and the helpers."""

    name: str
    client: Any
    recorder: Recorder = field(default_factory=Recorder)
    callback_url: str | None = None
    # called with the reason when callbacks cannot be received (the pytest plugin skips the test);
    # without it, ``wait_for_callback`` raises ``CallbacksUnavailable``
    on_unavailable: Callable[[str], Any] | None = None
    watch: bool = True  # record the client's responses (shapes, and what to clean up)

    @property
    def live(self) -> bool:
        return self.name == "live"

    def __post_init__(self) -> None:
        if self.watch:
            self.recorder.attach(self.client)

    # --- to be provided per target ----------------------------------------------------------------
    @property
    def callbacks_available(self) -> bool:
        """Whether callbacks can be received (always on the emulator; live, with a callback URL)."""
        return True

    def callbacks(self) -> list[Callback]:
        """Every callback received so far, oldest first."""
        raise NotImplementedError

    def pass_time(self, seconds: float) -> None:
        raise NotImplementedError

    def _step(self, within: float) -> float:
        """Let a little time go by while waiting; returns the seconds it stood for."""
        raise NotImplementedError

    # --- the same on both -------------------------------------------------------------------------
    def create_workspace(self, template: str | None = "FIFO", **params):
        """A new, uniquely named workspace (FIFO template by default) whose event callbacks reach
        this target's callbacks, as ``(context, instance)``. Deleted by ``cleanup``."""
        if self.callback_url and "event_callback_url" not in params:
            params["event_callback_url"] = self.callback_url + "/events"
        if template is not None:
            params["template"] = template
        params.setdefault("friendly_name", unique_name())
        instance = self.client.taskrouter.v1.workspaces.create(**params)
        return self.client.taskrouter.v1.workspaces(instance.sid), instance

    def wait_for(self, fetch: Callable[[], Any], until: Callable[[Any], bool], within: float = 30.0,
                 what: str = "the expected state"):
        """``fetch()`` once ``until`` holds for it, within ``within`` seconds (virtual or real)."""
        waited = 0.0
        while True:
            value = fetch()
            if until(value):
                return value
            if waited >= within:
                raise WaitTimeout(f"{what} not reached within {within:g} s on the {self.name}; last: {value!r}")
            waited += self._step(within - waited)

    def wait_for_callback(self, event_type: str | None = None, within: float = 30.0, kind: str = "event",
                          **fields: str) -> Callback:
        """The first callback of ``kind`` (and ``event_type``) whose params include ``fields``.
        Raises ``CallbacksUnavailable`` when this target cannot receive callbacks."""
        if not self.callbacks_available:
            reason = f"live callbacks need {CALLBACK_URL} (a public URL forwarding to 127.0.0.1:{CALLBACK_PORT})"
            if self.on_unavailable is not None:
                self.on_unavailable(reason)
            raise CallbacksUnavailable(reason)

        def match() -> list[Callback]:
            return [c for c in self.callbacks() if c.kind == kind
                    and (event_type is None or c.event_type == event_type)
                    and all(c.params.get(k) == v for k, v in fields.items())]
        what = f"a {kind} callback {event_type or ''} with {fields}".replace("  ", " ")
        return self.wait_for(match, bool, within, what)[0]

    def record_callbacks(self, since: int = 0) -> None:
        """Hand the callbacks received (after the first ``since``) to the recorder."""
        for callback in self.callbacks()[since:]:
            self.recorder.add_callback(callback.kind, callback.event_type, callback.params)

    def cleanup(self, since: int = 0) -> list[str]:
        """Delete what was created through this client (after the first ``since`` creations),
        newest first, so tasks go before their workers and workflows before their queues.
        Returns the problems met (a resource already gone is not one)."""
        problems: list[str] = []
        with self.recorder.pause():
            self._delete_created(since, problems)
        return problems

    def _delete_created(self, since: int, problems: list[str]) -> None:
        from twilio.base.exceptions import TwilioRestException

        created = self.recorder.created
        while len(created) > since:
            url = created.pop()
            try:
                response = self.client.request("DELETE", url)
            except (TwilioRestException, OSError) as exc:
                problems.append(f"DELETE {url}: {exc}")
                continue
            if response.status_code not in (204, 404):
                problems.append(f"DELETE {url}: {response.status_code} {response.text[:200]}")


class EmulatorTarget(Target):
    """A ``TaskRouterEmulator``: its client, its inbox and its clock."""

    def __init__(self, emulator, recorder: Recorder | None = None, watch: bool = True) -> None:
        self.emulator = emulator
        super().__init__("emulator", emulator.client(), recorder or Recorder(), EMULATOR_CALLBACK_URL, watch=watch)

    def callbacks(self) -> list[Callback]:
        return [Callback(r.kind, r.event_type if r.kind == "event" else None, dict(r.params))
                for r in self.emulator.inbox.records()]

    def pass_time(self, seconds: float) -> None:
        self.emulator.clock.advance(seconds)

    def _step(self, within: float) -> float:
        step = min(1.0, within) or 1.0
        self.emulator.clock.advance(step)
        return step


class CallbackReceiver:
    """Records the callbacks the real service POSTs (through a tunnel to 127.0.0.1): event
    callbacks under ``/events``, assignment callbacks elsewhere (answered ``{}``: no instruction)."""

    def __init__(self, port: int) -> None:
        self.received: list[Callback] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
                kind = "event" if self.path.rstrip("/").endswith("/events") else "assignment"
                receiver.received.append(Callback(kind, params.get("EventType") if kind == "event" else None,
                                                  params))
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="taskrouter-callbacks", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LiveTarget(Target):
    """The real TaskRouter, with the credentials of ``settings``."""

    poll_interval = 1.0

    def __init__(self, settings: LiveSettings, recorder: Recorder | None = None, client=None) -> None:
        from twilio.rest import Client

        self.settings = settings
        self.receiver = CallbackReceiver(settings.callback_port) if settings.callback_url else None
        if client is None:
            client = Client(settings.username, settings.password, account_sid=settings.account_sid)
        super().__init__("live", client, recorder or Recorder(), settings.callback_url)

    @property
    def callbacks_available(self) -> bool:
        return self.receiver is not None

    def callbacks(self) -> list[Callback]:
        return list(self.receiver.received) if self.receiver is not None else []

    def pass_time(self, seconds: float) -> None:
        if seconds > MAX_LIVE_SLEEP:
            raise ValueError(f"pass_time({seconds:g}) would sleep more than {MAX_LIVE_SLEEP:g} real seconds; "
                             "mark the test @pytest.mark.taskrouter_emulator_only")
        time.sleep(seconds)

    def _step(self, within: float) -> float:
        step = min(self.poll_interval, within) or self.poll_interval
        time.sleep(step)
        return step

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()

