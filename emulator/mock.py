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
"""

from __future__ import annotations

import functools
import importlib.abc
import inspect
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
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def is_taskrouter_url(url: str) -> bool:
    """Whether ``url`` is on a TaskRouter host (the global one or a region/edge variant)."""
    return bool(TASKROUTER_URL.match(url))


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
    """

    def __init__(self, app, responses_mock: responses.RequestsMock | None = None) -> None:
        self.app = app
        self.responses_mock = responses_mock
        self._lock = threading.Lock()
        self._stack: list[tuple] = []

    # --- the routes ---------------------------------------------------------------------------
    def _answer(self, request: requests.PreparedRequest):
        return call_app(self.app, request.method or "GET", request.url or "", request.headers, _body(request.body))

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
        async_patch = _AsyncClientPatch(self.app)
        try:
            async_patch.start()
        except BaseException:
            self._unregister(rsps, routes, owned)
            raise
        prefix = self._public_prefix()
        _BYPASS.acquire(prefix)
        with self._lock:
            self._stack.append((rsps, routes, owned, async_patch, prefix))
        return self

    def __exit__(self, *exc) -> Literal[False]:
        with self._lock:
            rsps, routes, owned, async_patch, prefix = self._stack.pop()
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


ASYNC_CLIENT_MODULE = "twilio.http.async_http_client"


class _AsyncClientPatch:
    """Route ``AsyncTwilioHttpClient.request`` for TaskRouter hosts to the app (no aiohttp I/O);
    other URLs go to the method that was in place before.

    When twilio's asynchronous client module is not imported yet, the routing waits for it
    (``_AsyncImportHook``), so a test that never uses it never pays for importing aiohttp."""

    def __init__(self, app) -> None:
        self.app = app
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
        app = self.app

        async def request(client, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                          allow_redirects=False):
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
