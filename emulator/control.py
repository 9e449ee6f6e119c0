"""The ``/_emulator`` control API: health, reset, the virtual clock and the webhooks inbox, for
server mode and non-Python users. It never collides with ``/v1`` and needs no credentials."""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, request

from . import __version__, errors, snapshot
from .clock import MODES, parse_instant
from .engine.backend import Backend
from .sids import is_sid
from .webhooks.inbox import KINDS


def _instant(name: str, raw: str):
    try:
        return parse_instant(raw)
    except (ValueError, OverflowError):
        raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
            name=name, reason=f"'{raw}' is not an ISO 8601 date-time such as 2026-01-01T00:00:00Z")) from None


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def clock_state(backend: Backend) -> dict:
    now = backend.clock.now()
    return {"now": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "now_ms": backend.clock.now_ms(), "mode": backend.clock.mode}


def control_blueprint(backend: Backend, webhooks=None) -> Blueprint:
    bp = Blueprint("emulator_control", __name__, url_prefix="/_emulator")

    @bp.get("/health")
    def health():
        return _json({"status": "ok", "version": __version__})

    @bp.post("/reset")
    def reset():
        account_sid = request.values.get("AccountSid")
        if account_sid is not None and not is_sid(account_sid, "AC"):
            raise errors.InvalidParameter(errors.INVALID_SID.format(value=account_sid, name="AccountSid"))
        backend.reset(account_sid)
        if webhooks is not None:
            webhooks.reset(account_sid)
        return _json({"status": "ok", "reset": account_sid or "all"})

    @bp.get("/clock")
    def get_clock():
        return _json(clock_state(backend))

    @bp.post("/clock/advance")
    def advance_clock():
        raw = request.values.get("Seconds")
        if raw is None:
            raise errors.InvalidParameter(errors.MISSING_PARAMETER.format(name="Seconds"))
        try:
            seconds = float(raw)
        except ValueError:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Seconds", reason="not a number")) from None
        if not 0 <= seconds < 10 ** 10:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Seconds", reason="must be a non-negative number of seconds"))
        try:
            backend.clock.advance(seconds)
        except (OverflowError, ValueError):
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Seconds", reason="moves the clock past the last representable instant")) from None
        return _json(clock_state(backend))

    @bp.post("/clock")
    def set_clock():
        now, mode = request.values.get("Now"), request.values.get("Mode")
        if mode is not None and mode not in MODES:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Mode", reason="must be manual or real"))
        instant = _instant("Now", now) if now is not None else None
        if instant is not None and instant < backend.clock.now():
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="Now", reason="the clock cannot go backwards"))
        if instant is not None:
            try:
                backend.clock.set(instant)
            except (OverflowError, ValueError):
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="Now", reason="is past the last representable instant")) from None
        if mode is not None:
            backend.clock.set_mode(mode)
        return _json(clock_state(backend))

    @bp.post("/snapshot")
    def take_snapshot():
        # The document is the whole state (clock, timers and inbox included); POST it back to
        # /_emulator/restore to return to this instant.
        return _json(snapshot.take(backend, webhooks))

    @bp.post("/restore")
    def restore_snapshot():
        try:
            document = request.get_json(silent=True)
        except RecursionError:  # nested deeper than the JSON parser goes
            document = None
        if document is None:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="body", reason="must be a snapshot document sent as application/json"))
        try:
            snapshot.restore(backend, document, webhooks)
        except snapshot.SnapshotError as exc:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(name="body", reason=str(exc))) from None
        return _json(clock_state(backend))

    @bp.get("/webhooks")
    def list_webhooks():
        inbox = _inbox(webhooks)
        kind = request.args.get("Kind")
        if kind is not None and kind not in KINDS:
            raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                name="Kind", reason="must be one of " + ", ".join(KINDS)))
        after = request.args.get("After")
        if after is not None:
            if not re.fullmatch(r"[0-9]+", after.strip()):  # ASCII digits: str.isdigit() takes "²"
                raise errors.InvalidParameter(errors.INVALID_PARAMETER.format(
                    name="After", reason="must be the id of a webhook record (a non-negative integer)"))
            after = int(after)
        records = inbox.records(kind=kind, event_type=request.args.get("EventType"),
                                workspace_sid=request.args.get("WorkspaceSid"), task_sid=request.args.get("TaskSid"),
                                after=after)
        return _json({"webhooks": [r.to_dict() for r in records]})

    @bp.delete("/webhooks")
    def clear_webhooks():
        _inbox(webhooks).clear()
        return Response(b"", status=204, content_type="application/json; charset=utf-8")

    return bp


def _inbox(webhooks):
    if webhooks is None:
        raise errors.NotImplementedByEmulator("this emulator was started without webhooks, so it keeps no inbox")
    return webhooks.inbox
