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
hosts and left alone for every other URL.
"""

from __future__ import annotations

import functools
import inspect
import re
import threading
from collections.abc import Callable
from contextlib import ContextDecorator
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
import responses
from requests.adapters import BaseAdapter, HTTPAdapter
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


def _reason(status: int) -> str:
    from http import HTTPStatus
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


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
        with self._lock:
            self._stack.append((rsps, routes, owned, async_patch))
        return self

    def __exit__(self, *exc) -> Literal[False]:
        with self._lock:
            rsps, routes, owned, async_patch = self._stack.pop()
        async_patch.stop()
        self._unregister(rsps, routes, owned)
        return False

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


class _AsyncClientPatch:
    """Route ``AsyncTwilioHttpClient.request`` for TaskRouter hosts to the app (no aiohttp I/O);
    other URLs go to the method that was in place before."""

    def __init__(self, app) -> None:
        self.app = app
        self._cls = None
        self._previous = None

    def start(self) -> None:
        try:
            from twilio.http.async_http_client import AsyncTwilioHttpClient
        except ImportError:  # twilio or aiohttp not installed: nothing to route
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
        if self._cls is not None:
            self._cls.request = self._previous
            self._cls = None
