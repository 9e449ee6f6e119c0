"""The dashboard: a page at ``/`` showing the emulator's state, its callbacks and its clock.

The page is one HTML document built from ``static/`` (shipped in the package; no build step and
nothing fetched from the internet). It holds no data: it reads JSON from ``/_emulator/dashboard/*``
routes, which live on the control blueprint so that whatever guards the control API guards them
too, and it drives the clock, reset and snapshots through the control API's own routes.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import lru_cache
from importlib import resources

from flask import Blueprint, Response, current_app, request

from ..http.render import Renderer
from . import views

JSON = "application/json; charset=utf-8"


def _json(body) -> Response:
    return Response(json.dumps(body), status=200, content_type=JSON, headers={"Cache-Control": "no-store"})


def register(bp: Blueprint, target, clock_state, control_scope) -> None:
    """Add the dashboard's JSON routes to the control blueprint ``bp`` (``/_emulator/dashboard/...``).

    ``target()`` is the ``(backend, webhooks)`` of the app serving the request (the blueprint is
    shared by every app of the process); ``control_scope()`` the account the caller may see (None:
    every account), as the control API's guard decided. Each route reads under the engine lock and
    renders with the REST API's renderer."""

    def renderer() -> Renderer:
        return Renderer(current_app.config.get("public_url") or request.host_url)

    @bp.get("/dashboard/state")
    def dashboard_state():
        backend, webhooks = target()
        with backend.lock:
            return _json(views.overview(backend, clock_state(backend), webhooks, control_scope()))

    @bp.get("/dashboard/accounts/<account_sid>/workspaces/<workspace_sid>")
    def dashboard_workspace(account_sid: str, workspace_sid: str):
        backend = target()[0]
        account_sid = views.in_scope(account_sid, control_scope())
        with backend.lock:
            return _json(views.workspace(backend, renderer(), account_sid, workspace_sid, request.args))

    @bp.get("/dashboard/accounts/<account_sid>/workspaces/<workspace_sid>/tasks/<task_sid>")
    def dashboard_task(account_sid: str, workspace_sid: str, task_sid: str):
        backend = target()[0]
        account_sid = views.in_scope(account_sid, control_scope())
        with backend.lock:
            return _json(views.task(backend, renderer(), account_sid, workspace_sid, task_sid))

    @bp.get("/dashboard/accounts/<account_sid>/workspaces/<workspace_sid>/workers/<worker_sid>")
    def dashboard_worker(account_sid: str, workspace_sid: str, worker_sid: str):
        backend = target()[0]
        account_sid = views.in_scope(account_sid, control_scope())
        with backend.lock:
            return _json(views.worker(backend, renderer(), account_sid, workspace_sid, worker_sid))


@lru_cache(maxsize=1)
def page() -> tuple[bytes, str]:
    """The page as one document (its stylesheet and script inlined) and the Content-Security-Policy
    that lets exactly those run: nothing else loads, and the page talks only to its own origin."""
    static = resources.files(__package__) / "static"
    css = (static / "dashboard.css").read_text(encoding="utf-8")
    js = (static / "dashboard.js").read_text(encoding="utf-8")
    html = (static / "index.html").read_text(encoding="utf-8")
    html = html.replace("<!-- STYLE -->", f"<style>{css}</style>").replace("<!-- SCRIPT -->", f"<script>{js}</script>")

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"

    policy = (f"default-src 'none'; script-src {digest(js)}; style-src {digest(css)}; connect-src 'self'; "
              "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html.encode("utf-8"), policy


def page_blueprint() -> Blueprint:
    """``GET /``: the dashboard page. It carries no state (the data routes need what the control
    API needs), so it is served to anyone who can reach the server."""
    bp = Blueprint("emulator_dashboard", __name__)

    @bp.get("/")
    def dashboard_page():
        body, policy = page()
        return Response(body, status=200, content_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"})

    return bp
