"""The Flask application: routes derived from the official spec, one handler per operationId.

Cross-cutting concerns are a chain, each doing one thing: authenticate and pick the account
(``Credentials``), parse parameters by the spec (``params``), dispatch to the handler under the
engine lock, render errors as Twilio's JSON body, and (strict mode) validate every response
against the official schema before it leaves.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import threading
from dataclasses import dataclass, field

from flask import Flask, Request, Response, current_app, request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from .. import __version__, errors, spec
from ..engine.backend import Backend
from ..journal import REPLAY_KEY
from ..requestlog import ACCOUNT_KEY
from ..sids import is_sid
from . import (
    params,
    resources,  # noqa: F401  (registers the handlers)
)
from .registry import HANDLERS, Call, Reply
from .render import Renderer

log = logging.getLogger("emulator.http")


JSON = "application/json; charset=utf-8"
FORM = "application/x-www-form-urlencoded"
_NO_FORM: ImmutableMultiDict = ImmutableMultiDict()


class SchemaMismatch(Exception):
    """Strict mode: the emulator rendered a body the official schema rejects (an emulator bug)."""


@dataclass
class Credentials:
    """Who may call. By default any well-formed AccountSid is accepted with any token; with
    ``auth_token`` or per-account ``tokens`` (strict mode) a wrong token is a 401.

    API keys (``SK...``) authenticate as the account they belong to, so they must be known:
    ``api_keys`` maps a key SID to ``(secret, account_sid)``.
    """

    auth_token: str | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    # the control API's owner: acts on every account (see ``emulator.control``)
    admin_token: str | None = None
    api_keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    # the token each account last authenticated with (lenient mode signs webhooks with it)
    last_tokens: dict[str, str] = field(default_factory=dict)

    @property
    def strict(self) -> bool:
        return self.auth_token is not None or bool(self.tokens)

    @classmethod
    def from_file(cls, path: str, auth_token: str | None = None, admin_token: str | None = None) -> "Credentials":
        """``{"accounts": {"AC..": "token"}, "api_keys": {"SK..": {"secret": "..", "account_sid": "AC.."}}}``"""
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        keys = {sid: (k["secret"], k["account_sid"]) for sid, k in data.get("api_keys", {}).items()}
        return cls(auth_token=auth_token, tokens=dict(data.get("accounts", {})), api_keys=keys,
                   admin_token=admin_token)

    def account_for(self, authorization: str | None) -> str:
        if not authorization or not authorization.startswith("Basic "):
            raise errors.Unauthorized(errors.AUTH_REQUIRED)
        try:
            username, _, password = base64.b64decode(authorization[6:], validate=True).decode("utf-8").partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII, or not UTF-8 (UnicodeDecodeError)
            raise errors.Unauthorized(errors.AUTH_INVALID) from None
        if is_sid(username, "SK"):
            key = self.api_keys.get(username)
            if key is None or key[0] != password:
                raise errors.Unauthorized(errors.AUTH_INVALID)
            return key[1]
        if not is_sid(username, "AC"):
            raise errors.Unauthorized(errors.AUTH_INVALID)
        expected = self.tokens.get(username, self.auth_token)
        if self.strict and expected != password:
            raise errors.Unauthorized(errors.AUTH_INVALID)
        self.last_tokens[username] = password
        return username

    def auth_token_for(self, account_sid: str) -> str | None:
        """The auth token that signs the account's webhooks: the configured one in strict mode;
        otherwise (any token is accepted) the one the account last authenticated with, so a
        receiver validating with the token its client uses accepts the signature. None if unknown."""
        return self.tokens.get(account_sid, self.auth_token) or self.last_tokens.get(account_sid)


# CORS headers of every real API answer (recorded real traffic: the TaskRouter API is callable
# from a browser with credentials).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, "
                                    "If-None-Match, If-Unmodified-Since",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Expose-Headers": "ETag",
}
_CORS_ITEMS = tuple(CORS_HEADERS.items())
# Headers the real service sends on every answer (recorded real traffic).
_SERVICE_HEADERS = (("X-Home-Region", "us1"), ("X-API-Domain", "taskrouter.twilio.com"))
_API_HEADERS = _SERVICE_HEADERS + _CORS_ITEMS


class ApiResponse(Response):
    """A response that keeps ``Content-Length: 0`` on a 204.

    Werkzeug drops the header on 204 (RFC 7230 says a server must not send it), but the real
    service sends it on every delete (recorded real traffic), and clients written against the
    real service may read it."""

    service_headers = False  # True: the service's headers are written in already (``_api_answer``)

    def get_wsgi_headers(self, environ):
        headers = super().get_wsgi_headers(environ)
        if self.status_code == 204:
            headers["Content-Length"] = "0"
        return headers


def _json(body, status: int, headers: dict | None = None) -> Response:
    if body is None:
        # Deletes answer 204 with an empty body and the JSON content type (recorded real traffic).
        return ApiResponse(b"", status=status, content_type=JSON, headers=headers)
    return ApiResponse(json.dumps(body), status=status, content_type=JSON, headers=headers)


def _api_answer(body, status: int, headers: dict, request_id: int) -> Response:
    """A TaskRouter answer with the service's own headers written in at once (``_service_headers``
    then has nothing to add), rather than each looked for and added after the view."""
    header_list = [*headers.items(), ("Twilio-Request-Id", "RQ%032x" % request_id), *_API_HEADERS]
    data = b"" if body is None else json.dumps(body)
    response = ApiResponse(data, status=status, content_type=JSON, headers=header_list)
    response.service_headers = True
    return response


def error_response(exc: errors.TwilioError) -> Response:
    return _json(exc.to_dict(), exc.status)


class _LazyBuildRule(Rule):
    """A URL rule whose URL *builder* is compiled on first use rather than when the rule is added.

    Werkzeug compiles a builder (for ``url_for``) for every rule as the app is made; the emulator
    never builds its API URLs that way (the renderer writes them), and those compilations were
    nine-tenths of the cost of a fresh app, which a test suite pays once per test. Matching is
    unaffected: it does not use the builder.
    """

    def _compile_builder(self, append_unknown: bool = True):
        compiled = None

        def build(rule, *args, **kwargs):
            nonlocal compiled
            if compiled is None:
                compiled = Rule._compile_builder(rule, append_unknown)
            return compiled(rule, *args, **kwargs)

        return build


class _App(Flask):
    """An emulator's Flask app. The URL map and the view table do not depend on the emulator (each
    view finds its backend in ``app.config``), so every app of the process shares one, built the
    first time; an app that gets routes of its own (``add_url_rule``) first takes a private copy."""

    url_rule_class = _LazyBuildRule
    _shared = False

    def ensure_sync(self, func):
        # Flask asks, for every hook of every request, whether the function is a coroutine
        # function; the answer for a given function never changes, so it is worked out once.
        sync = _SYNC.get(func)
        if sync is None:
            if len(_SYNC) >= 1024:  # bounded: apps made and dropped (one per test) leave their hooks here
                _SYNC.clear()
            sync = _SYNC[func] = super().ensure_sync(func)
        return sync

    def add_url_rule(self, rule, endpoint=None, view_func=None, provide_automatic_options=None, **options):
        if self._shared:
            self.url_map = _copy_map(self.url_map)
            self.view_functions = dict(self.view_functions)
            self._shared = False
        return super().add_url_rule(rule, endpoint, view_func, provide_automatic_options, **options)


_SYNC: dict = {}


def _copy_map(source: Map) -> Map:
    copy = Map([rule.empty() for rule in source.iter_rules()], merge_slashes=source.merge_slashes,
               strict_slashes=source.strict_slashes)
    copy.converters = dict(source.converters)
    return copy


_RENDERERS: dict[tuple, Renderer] = {}


def renderer_for(public_url: str | None, environ: dict) -> Renderer:
    """The renderer for URLs on ``public_url``, else on the host the request came in on.

    The host URL is a function of these few environ values; werkzeug works it out afresh on
    every request (host, port, IRI decoding), so the renderer is kept by them (a handful of
    entries: the hosts a process is reached on)."""
    key = (public_url, environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"), environ.get("SERVER_NAME"),
           environ.get("SERVER_PORT"), environ.get("SCRIPT_NAME"))
    renderer = _RENDERERS.get(key)
    if renderer is None:
        if len(_RENDERERS) >= 64:  # bounded: a client making up Host headers gets no memory
            _RENDERERS.clear()
        renderer = _RENDERERS[key] = Renderer(public_url or Request(environ).host_url)
    return renderer


def _make_view(op: spec.Operation):
    handler = HANDLERS.get(op.operation_id)

    writes = op.method not in ("GET", "HEAD")

    def view(**path_values: str) -> Response:
        # one proxy lookup, not one per use
        req = request._get_current_object()  # type: ignore[attr-defined]
        environ = req.environ
        config = current_app.config
        credentials = config["credentials"]
        replayed = environ.get(REPLAY_KEY)  # a journal replay: set by the server, never by a client
        account_sid = replayed if replayed is not None else credentials.account_for(environ.get("HTTP_AUTHORIZATION"))
        environ[ACCOUNT_KEY] = account_sid  # (the request log reads it rather than decoding the header again)
        if handler is None:
            raise errors.NotImplementedByEmulator(
                errors.NOT_SERVED.format(operation=f"{op.operation_id} ({op.method} {op.path})"))
        try:
            params.check_path(op, path_values)
        except errors.NotFound:
            raise errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=req.path)) from None
        params.check_encoding(req.query_string, req.get_data(cache=True) if req.mimetype == FORM else None)
        query = req.args
        # (no operation reading the query takes form fields: a GET's body is not parsed unless it is a form)
        form = req.form if writes or req.mimetype == FORM else _NO_FORM
        values = params.parse(op, query, form, req.headers)
        backend = config["backend"]
        call = Call(op.operation_id, backend, account_sid, values, path_values,
                    renderer_for(config["public_url"], environ), req.path, query, form)
        journal = config.get("journal")
        seq = None
        with backend.lock:
            if journal is not None and writes:
                journal.catch_up()
            reply: Reply = handler(call)
            if journal is not None and writes:
                # lenient mode signs callbacks with the token the account used: keep it for a replay
                token = None if credentials.strict else credentials.last_tokens.get(account_sid)
                seq = journal.record_request(req, account_sid, token)
        if journal is not None and seq is not None:
            journal.commit(seq)  # durable before the answer leaves
        webhooks = config["webhooks"]
        if webhooks is not None:
            # callbacks go out after the lock is released, before the API call returns
            webhooks.flush()
        if config["strict_schema"]:
            problems = spec.validation_errors(op.operation_id, reply.body, reply.status)
            if problems:
                raise SchemaMismatch(f"{op.operation_id} rendered a body the official schema rejects: "
                                     + "; ".join(problems[:5]))
        return _api_answer(reply.body, reply.status, reply.headers, next(config["request_ids"]))

    view.__name__ = op.operation_id
    return view


_ROOT_PATH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Given, not searched for: Flask looks for it through the import system on every app (never used here).
_INSTANCE_PATH = os.path.join(_ROOT_PATH, "instance")
_ROUTES_LOCK = threading.Lock()
_ROUTES: tuple[Map, dict, dict] | None = None


def _new_app() -> _App:
    return _App("emulator", root_path=_ROOT_PATH, instance_path=_INSTANCE_PATH, static_folder=None)


def _routes() -> tuple[Map, dict, dict]:
    """The URL map, view functions and blueprints every emulator app shares, built once per process."""
    global _ROUTES
    with _ROUTES_LOCK:
        if _ROUTES is None:
            template = _new_app()
            # No redirects for "//" or a trailing slash: an unknown path is a Twilio-shaped 404.
            template.url_map.merge_slashes = False
            template.url_map.strict_slashes = False
            for op in spec.operations().values():
                template.add_url_rule(op.flask_rule, endpoint=op.operation_id, view_func=_make_view(op),
                                      methods=[op.method])
            from ..control import control_blueprint
            from ..dashboard import page_blueprint
            template.register_blueprint(control_blueprint())
            template.register_blueprint(page_blueprint())
            from .. import bridge
            bridge.add_routes(template)
            _ROUTES = (template.url_map, template.view_functions, template.blueprints)
        return _ROUTES


def _twilio_error(exc: errors.TwilioError):
    return error_response(exc)


def _http_error(exc: HTTPException):
    if isinstance(exc, MethodNotAllowed):
        return error_response(errors.MethodNotAllowed(
            errors.METHOD_NOT_ALLOWED.format(method=request.method, path=request.path)))
    if isinstance(exc, NotFound):
        return error_response(errors.NotFound(errors.RESOURCE_NOT_FOUND.format(path=request.path)))
    return error_response(errors.TwilioError(exc.description or exc.name, status=exc.code or 400,
                                             code=20000 + (exc.code or 400)))


def _schema_mismatch(exc: SchemaMismatch):
    log.error("%s", exc)
    return error_response(errors.TwilioError(str(exc), status=500, code=20500))


def _unexpected(exc: Exception):
    # Never a traceback to the client: an emulator bug still answers in Twilio's shape.
    log.exception("unhandled error in %s %s", request.method, request.path)
    return error_response(errors.TwilioError(f"Internal emulator error: {type(exc).__name__}", status=500,
                                             code=20500))


def _service_headers(response: Response) -> Response:
    from ..control import is_control_path  # imported here: the control API imports the app's neighbours

    if getattr(response, "service_headers", False):
        return response  # an API answer: written with them (``_api_answer``)
    headers = response.headers
    present = {key.lower() for key, _ in headers.items()}
    if "twilio-request-id" not in present:
        # A counter, not the SID source: reads must not shift the SIDs a seeded run produces.
        headers.add("Twilio-Request-Id", "RQ%032x" % next(current_app.config["request_ids"]))
    added = _SERVICE_HEADERS if is_control_path(request.path) else _SERVICE_HEADERS + _CORS_ITEMS
    # (no CORS on the control API: a web page must not read or drive it)
    for key, value in added:
        if key.lower() not in present:
            headers.add(key, value)
    return response


def create_app(backend: Backend, *, credentials: Credentials | None = None, public_url: str | None = None,
               strict_schema: bool = False, webhooks=None) -> Flask:
    """The WSGI application serving TaskRouter v1 and the ``/_emulator`` control API for ``backend``.

    ``webhooks`` (an ``emulator.webhooks.Webhooks`` of this backend) sends the callbacks: it is
    flushed after every API request, outside the engine lock, and signs with these credentials."""
    url_map, views, blueprints = _routes()
    app = _new_app()
    app.url_map = url_map
    app.view_functions = views
    app.blueprints = dict(blueprints)
    app._shared = True
    credentials = credentials or Credentials()
    app.config.update(backend=backend, strict_schema=strict_schema, public_url=public_url, credentials=credentials,
                      webhooks=webhooks, request_ids=itertools.count(1), version=__version__)
    if webhooks is not None and webhooks.auth_token_for is None:
        webhooks.auth_token_for = credentials.auth_token_for
    from ..control import guard_control_api
    guard_control_api(app, credentials)
    app.register_error_handler(errors.TwilioError, _twilio_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SchemaMismatch, _schema_mismatch)
    app.register_error_handler(Exception, _unexpected)
    app.after_request(_service_headers)
    from .. import bridge
    bridge.attach(app, backend, credentials, webhooks)
    # the request log and fault injection: hooks around every route, none inside a handler
    from .. import faults, requestlog
    requestlog.attach(app)
    faults.attach(app, webhooks)
    return app
