"""In-process interception: TaskRouter calls reach the emulator's WSGI app with no socket.

``EmulatorMock`` (what ``TaskRouterEmulator.mock()`` returns) uses ``responses`` to catch every
``requests``-based call to ``https://taskrouter.twilio.com`` and its region/edge variants
(``taskrouter.ie1.twilio.com``, ``taskrouter.dublin.ie1.twilio.com``, ...) made by any
``twilio.rest.Client`` in the process, whoever created it. The request is handed to the app as
it would arrive over the wire, with the host it was sent to, so ``url``, ``links`` and
``meta.next_page_url`` name that same host and paging stays intercepted. Everything else goes on
to whatever ``HTTPAdapter.send`` was in place when the mock started: the real network, or a
``responses`` mock the test started first.

Twilio's asynchronous client (``AsyncTwilioHttpClient``, aiohttp) does not use ``requests``; while
the mock is active its ``request`` coroutine is routed in-process the same way for TaskRouter
hosts and left alone for every other URL. Its module (and aiohttp with it) is not imported for
that: the routing is put in place when the application imports it, if it ever does.

``requests`` looks up proxy settings in the environment for every call; a URL that never leaves
the process needs none, so while a mock is active (and on ``client()``'s session) intercepted
URLs skip that lookup. Every other URL keeps it.

The guard: while the mock is active, a request to any other Twilio host (``api.twilio.com``,
``verify.twilio.com``, ...) raises ``RealTwilioBlocked`` instead of reaching the real service,
unless the mock was made with ``guard=False``; then it goes on to whatever comes next (the
user's own ``responses`` mock, or the network).

A ``responses`` mock the user starts *inside* an active emulator mock (``@responses.activate``
on a test using the ``taskrouter`` fixture, ``with responses.RequestsMock():`` in the test) has
the TaskRouter requests its own registrations do not match answered by the emulator, and other
Twilio hosts guarded, instead of refusing them.
"""

from __future__ import annotations

import functools
import importlib.abc
import inspect
import logging
import re
import sys
import threading
import types
from collections.abc import Callable
from contextlib import ContextDecorator
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import responses
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.sessions import merge_setting
from requests.structures import CaseInsensitiveDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

# Region and edge settings only add labels inside twilio.com
# (https://www.twilio.com/docs/global-infrastructure/edge-locations), e.g.
# taskrouter.ie1.twilio.com or taskrouter.dublin.ie1.twilio.com.
TASKROUTER_URL = re.compile(r"^https://taskrouter(?:\.[a-z0-9-]+)*\.twilio\.com(?::443)?(?=[/?#]|$)",
                            re.IGNORECASE)
# Every other Twilio host: api.twilio.com, verify.twilio.com, twilio.com itself, ...
OTHER_TWILIO_URL = re.compile(r"^https?://(?!taskrouter[.])(?:[a-z0-9-]+\.)*twilio\.com(?::[0-9]+)?(?=[/?#]|$)",
                              re.IGNORECASE)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
log = logging.getLogger("emulator.mock")


def is_taskrouter_url(url: str) -> bool:
    """Whether ``url`` is on a TaskRouter host (the global one or a region/edge variant)."""
    return bool(TASKROUTER_URL.match(url))


def is_other_twilio_url(url: str) -> bool:
    """Whether ``url`` is on a Twilio host that is not TaskRouter (what the guard stops)."""
    return bool(OTHER_TWILIO_URL.match(url))


class RealTwilioBlocked(RuntimeError):
    """A request to a Twilio host other than TaskRouter was stopped while the emulator intercepts.

    Deliberately not a ``requests`` exception: retry code that catches network errors must not
    swallow it, so the test fails where the real service would have been called."""

    def __init__(self, method: str, url: str) -> None:
        super().__init__(
            f"taskrouter-emulator blocked {method} {url}: while the emulator intercepts, requests to Twilio hosts "
            "other than TaskRouter fail so that a test never reaches the real service. To let them through (to your "
            "own `responses` mock, or the network), use TaskRouterEmulator(guard=False) or emu.mock(guard=False); "
            "in pytest, @pytest.mark.taskrouter(guard=False) or `taskrouter_guard = false` in the ini file. "
            "To answer them in the test, register the URL on a `responses` mock you start inside the fixture "
            "(@responses.activate works).")
        self.method = method
        self.url = url


class _EnvironmentBypass:
    """``requests.Session.merge_environment_settings`` without the environment for URLs served
    in-process (the proxy lookup scans ``os.environ`` on every call), the original for the rest.

    Installed on ``requests.Session`` while at least one mock is active (counted, so nested and
    concurrent mocks share it), or on one session (``client()``) for its lifetime."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._original: Any = None
        self.prefixes: dict[str, int] = {}  # further in-process URL prefixes (public_url), counted

    def intercepted(self, url: str) -> bool:
        return is_taskrouter_url(url) or (bool(self.prefixes) and url.startswith(tuple(self.prefixes)))

    def acquire(self, prefix: str | None) -> None:
        with self._lock:
            if prefix:
                self.prefixes[prefix] = self.prefixes.get(prefix, 0) + 1
            self._users += 1
            if self._users == 1:
                self._original = requests.Session.__dict__["merge_environment_settings"]
                requests.Session.merge_environment_settings = bypass_environment(self._original,  # type: ignore
                                                                                 self.intercepted)

    def release(self, prefix: str | None) -> None:
        with self._lock:
            if prefix:
                self.prefixes[prefix] -= 1
                if not self.prefixes[prefix]:
                    del self.prefixes[prefix]
            self._users -= 1
            if self._users == 0:
                requests.Session.merge_environment_settings = self._original  # type: ignore[method-assign]
                self._original = None


def bypass_environment(original, intercepted: Callable[[str], bool]):
    """A ``merge_environment_settings`` that skips the environment (proxies, CA bundle) for URLs
    ``intercepted`` says are served in-process and calls ``original`` for every other one."""

    def merge_environment_settings(session, url, proxies, stream, verify, cert):
        if url is None or not intercepted(url):
            return original(session, url, proxies, stream, verify, cert)
        return {"proxies": merge_setting(proxies, session.proxies), "stream": merge_setting(stream, session.stream),
                "verify": merge_setting(verify, session.verify), "cert": merge_setting(cert, session.cert)}

    return merge_environment_settings


_BYPASS = _EnvironmentBypass()
_SESSION_MERGE = requests.Session.merge_environment_settings


def skip_environment(session: requests.Session, also: tuple[str, ...] = ()) -> None:
    """Let ``session`` skip the environment lookup for TaskRouter URLs and the ``also`` prefixes
    (what its ``InProcessAdapter`` serves); its other URLs keep it."""

    def intercepted(url: str) -> bool:
        return is_taskrouter_url(url) or (bool(also) and url.startswith(also))

    session.merge_environment_settings = types.MethodType(  # type: ignore[method-assign]
        bypass_environment(_SESSION_MERGE, intercepted), session)


def call_app(app, method: str, url: str, headers, body: bytes | str | None) -> tuple[int, list, bytes]:
    """Run one request through the WSGI ``app`` in-process: ``(status, headers, body)``.

    Stateless (no shared test client), so it is safe from several threads at once and when a
    request is made while another one is being handled (a handler that calls the API again).
    """
    parts = urlsplit(url)
    if isinstance(body, str):
        body = body.encode("utf-8")
    # Werkzeug computes Content-Length from the body it is given.
    header_list = [(k, v) for k, v in dict(headers or {}).items() if k.lower() != "content-length"]
    builder = EnvironBuilder(path=parts.path or "/", base_url=f"{parts.scheme}://{parts.netloc}",
                             query_string=parts.query, method=method.upper(), headers=header_list,
                             data=body or b"")
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    app_iter, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        content = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    return int(status.split(" ", 1)[0]), list(response_headers.items()), content


class InProcessAdapter(BaseAdapter):
    """A ``requests`` transport adapter that sends TaskRouter URLs to ``app`` in-process.

    Mounted on a session for the prefix ``https://taskrouter.``; a URL under that prefix that is
    not a TaskRouter host goes to an ordinary ``HTTPAdapter``.
    """

    def __init__(self, app, also: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.app = app
        self.also = tuple(also)  # further URL prefixes served in-process (the app's public_url)
        self._network = HTTPAdapter()

    def send(self, request: requests.PreparedRequest, stream=False, timeout=None, verify=True, cert=None,
             proxies=None) -> requests.Response:
        url = request.url or ""
        if not (is_taskrouter_url(url) or (self.also and url.startswith(self.also))):
            return self._network.send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                                      proxies=proxies)
        status, headers, content = call_app(self.app, request.method or "GET", url, request.headers,
                                            _body(request.body))
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = content
        response.encoding = "utf-8"
        response.url = url
        response.request = request
        response.reason = _reason(status)
        return response

    def close(self) -> None:
        self._network.close()


def _body(body: Any) -> bytes | str | None:
    # a prepared request's body is bytes, text or None (the twilio client never streams one)
    return body if body is None or isinstance(body, (bytes, str)) else b"".join(body)


_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def _reason(status: int) -> str:
    return _PHRASES.get(status, "")


class EmulatorMock(ContextDecorator):
    """Intercept TaskRouter traffic for the duration of a ``with`` block or a decorated function.

    Re-entrant and nestable: each entry starts its own interception on top of whatever was active,
    and each exit restores exactly what was there before, also when the block raises.

    ``responses_mock``: an already active ``responses.RequestsMock`` (or the ``responses`` module's
    default mock, ``responses.mock``) to add the emulator's routes to, instead of starting one;
    the routes are removed again on exit and the user's mock keeps every other registration.

    ``guard``: stop requests to other Twilio hosts with ``RealTwilioBlocked`` (the default);
    ``False`` lets them go on to what comes next.
    """

    def __init__(self, app, responses_mock: responses.RequestsMock | None = None, *, guard: bool = True) -> None:
        self.app = app
        self.responses_mock = responses_mock
        self.guard = guard
        self._lock = threading.Lock()
        self._stack: list[tuple] = []
        self._routes = {
            "taskrouter": responses.CallbackResponse(responses.GET, TASKROUTER_URL, callback=self._answer,
                                                     content_type=None),
            "guard": responses.CallbackResponse(responses.GET, OTHER_TWILIO_URL, callback=self._block,
                                                content_type=None),
        }

    # --- the routes ---------------------------------------------------------------------------
    def _answer(self, request: requests.PreparedRequest):
        return call_app(self.app, request.method or "GET", request.url or "", request.headers, _body(request.body))

    def _block(self, request: requests.PreparedRequest):
        log.warning("blocked %s %s: not a TaskRouter host", request.method, request.url)
        hook = self.app.config.get("on_blocked")
        if hook is not None:
            hook(request.method or "GET", request.url or "")
        raise RealTwilioBlocked(request.method or "GET", request.url or "")

    def route_for(self, request: requests.PreparedRequest):
        """The route answering ``request`` in a ``responses`` mock that has none for it: the
        emulator for TaskRouter hosts (and the public URL), the guard for other Twilio hosts, else None."""
        url = str(request.url)
        prefix = self._public_prefix()
        if is_taskrouter_url(url) or (prefix and url.startswith(prefix)):
            return self._routes["taskrouter"]
        if self.guard and is_other_twilio_url(url):
            return self._routes["guard"]
        return None

    def _register(self, rsps: responses.RequestsMock) -> list:
        registered = []
        patterns = [TASKROUTER_URL]
        public_url = self.app.config.get("public_url")
        if public_url:  # paging URLs point there, so they must stay in-process too
            patterns.append(re.compile("^" + re.escape(public_url.rstrip("/")) + r"(?=[/?#]|$)", re.IGNORECASE))
        for pattern in patterns:
            for method in METHODS:
                # content_type=None: the app's own Content-Type goes out unchanged.
                registered.append(rsps.add_callback(method, pattern, callback=self._answer, content_type=None))
        if self.guard and rsps is not self.responses_mock:
            # A user's own mock already refuses what it does not know; it gets no guard route,
            # which would compete with the Twilio URLs it registers.
            for method in METHODS:
                registered.append(rsps.add_callback(method, OTHER_TWILIO_URL, callback=self._block, content_type=None))
        return registered

    # --- entering and leaving -----------------------------------------------------------------
    def __enter__(self) -> "EmulatorMock":
        if self.responses_mock is not None:
            rsps, owned = self.responses_mock, False
        else:
            # Passthrough to the send that is in place now, so a mock the test started earlier
            # still answers its own URLs and the emulator's real-HTTP traffic is untouched.
            rsps = responses.RequestsMock(assert_all_requests_are_fired=False,
                                          passthru_prefixes=(re.compile(r".*", re.DOTALL),),  # type: ignore[arg-type]
                                          real_adapter_send=HTTPAdapter.send)  # type: ignore[arg-type]
            owned = True
        routes = self._register(rsps)
        if owned:
            rsps.start()
        async_patch = _AsyncClientPatch(self.app, self)
        try:
            async_patch.start()
        except BaseException:
            self._unregister(rsps, routes, owned)
            raise
        prefix = self._public_prefix()
        _BYPASS.acquire(prefix)
        with self._lock:
            self._stack.append((rsps, routes, owned, async_patch, prefix))
        _InnerMocks.push(self, rsps)
        return self

    def __exit__(self, *exc) -> Literal[False]:
        with self._lock:
            rsps, routes, owned, async_patch, prefix = self._stack.pop()
        _InnerMocks.pop(self, rsps)
        _BYPASS.release(prefix)
        async_patch.stop()
        self._unregister(rsps, routes, owned)
        return False

    def _public_prefix(self) -> str | None:
        public_url = self.app.config.get("public_url")
        return public_url.rstrip("/") if public_url else None

    @staticmethod
    def _unregister(rsps, routes, owned: bool) -> None:
        if owned:
            rsps.stop(allow_assert=False)
            return
        for route in routes:
            rsps.remove(route)

    @property
    def active(self) -> bool:
        """Whether this mock is currently intercepting (entered and not yet left)."""
        return bool(self._stack)

    def __call__(self, func: Callable) -> Callable:  # type: ignore[override]
        """Decorate ``func`` (plain or ``async``) to run with the mock active."""
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def wrapper(*args, **kwargs):
                with self:
                    return await func(*args, **kwargs)
            return wrapper
        return super().__call__(func)


class _InnerMocks:
    """Lets a ``responses`` mock started inside an active emulator mock answer TaskRouter.

    ``responses`` refuses every URL a mock has no registration for, so ``@responses.activate``
    on a test using the fixture would refuse TaskRouter. While any emulator mock is active,
    ``RequestsMock._find_match`` falls back to the innermost emulator's routes (TaskRouter, and
    the guard) for mocks the emulator did not register its routes in; registrations of the
    user's own always win."""

    _active: list[tuple[EmulatorMock, responses.RequestsMock]] = []
    _original: Any = None
    _lock = threading.Lock()

    @classmethod
    def push(cls, emulator_mock: EmulatorMock, rsps: responses.RequestsMock) -> None:
        with cls._lock:
            if not cls._active:
                cls._original = original = responses.RequestsMock.__dict__["_find_match"]

                def _find_match(mock, request):
                    match, reasons = original(mock, request)
                    if match is None:
                        fallback = cls._fallback(mock, request)
                        if fallback is not None:
                            return fallback, reasons
                    return match, reasons

                responses.RequestsMock._find_match = _find_match  # type: ignore[method-assign]
            cls._active.append((emulator_mock, rsps))

    @classmethod
    def pop(cls, emulator_mock: EmulatorMock, rsps: responses.RequestsMock) -> None:
        with cls._lock:
            for i in range(len(cls._active) - 1, -1, -1):
                if cls._active[i][0] is emulator_mock and cls._active[i][1] is rsps:
                    del cls._active[i]
                    break
            if not cls._active and cls._original is not None:
                responses.RequestsMock._find_match = cls._original  # type: ignore[method-assign]
                cls._original = None

    @classmethod
    def _fallback(cls, mock, request):
        active = cls._active
        if not active or any(rsps is mock for _, rsps in active):
            return None  # a mock holding the emulator's routes: its own answer stands
        return active[-1][0].route_for(request)


ASYNC_CLIENT_MODULE = "twilio.http.async_http_client"


class _AsyncClientPatch:
    """Route ``AsyncTwilioHttpClient.request`` for TaskRouter hosts to the app (no aiohttp I/O) and
    apply the guard to other Twilio hosts; other URLs go to the method that was in place before.

    When twilio's asynchronous client module is not imported yet, the routing waits for it
    (``_AsyncImportHook``), so a test that never uses it never pays for importing aiohttp."""

    def __init__(self, app, owner: EmulatorMock | None = None) -> None:
        self.app = app
        self.owner = owner
        self._cls = None
        self._previous = None

    def start(self) -> None:
        module = sys.modules.get(ASYNC_CLIENT_MODULE)
        if module is None:
            _ASYNC_HOOK.wait(self)
        else:
            self.apply(module)

    def apply(self, module) -> None:
        AsyncTwilioHttpClient = getattr(module, "AsyncTwilioHttpClient", None)
        if AsyncTwilioHttpClient is None:
            return
        self._cls = AsyncTwilioHttpClient
        self._previous = previous = AsyncTwilioHttpClient.__dict__["request"]
        app, owner = self.app, self.owner

        async def request(client, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                          allow_redirects=False):
            if owner is not None and owner.guard and is_other_twilio_url(url):
                owner._block(requests.Request(method.upper(), url).prepare())
            if not is_taskrouter_url(url):
                return await previous(client, method, url, params=params, data=data, headers=headers, auth=auth,
                                      timeout=timeout, allow_redirects=allow_redirects)
            from twilio.http.response import Response
            # Encode exactly as the synchronous client does (form body, repeated keys, Basic auth).
            prepared = requests.Request(method.upper(), url, params=params, data=data, headers=headers,
                                        auth=auth).prepare()
            status, answer_headers, content = call_app(app, prepared.method or "GET", prepared.url or "",
                                                       prepared.headers, _body(prepared.body))
            return Response(status, content.decode("utf-8"), CaseInsensitiveDict(answer_headers))

        request.__doc__ = previous.__doc__
        AsyncTwilioHttpClient.request = request

    def stop(self) -> None:
        _ASYNC_HOOK.forget(self)
        if self._cls is not None:
            self._cls.request = self._previous
            self._cls = None


class _AsyncImportHook(importlib.abc.MetaPathFinder):
    """Applies the waiting ``_AsyncClientPatch``es, in the order they started, right after twilio's
    asynchronous client module is imported. In ``sys.meta_path`` only while some are waiting."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._waiting: list[_AsyncClientPatch] = []

    def wait(self, patch: _AsyncClientPatch) -> None:
        with self._lock:
            self._waiting.append(patch)
            if self not in sys.meta_path:
                sys.meta_path.insert(0, self)

    def forget(self, patch: _AsyncClientPatch) -> None:
        with self._lock:
            if patch in self._waiting:
                self._waiting.remove(patch)
            if not self._waiting and self in sys.meta_path:
                sys.meta_path.remove(self)

    def find_spec(self, fullname, path, target=None):
        if fullname != ASYNC_CLIENT_MODULE:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_route(module) -> None:
            exec_module(module)
            with self._lock:
                waiting, self._waiting = self._waiting, []
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
            for patch in waiting:
                patch.apply(module)

        spec.loader.exec_module = exec_then_route
        return spec


_ASYNC_HOOK = _AsyncImportHook()
