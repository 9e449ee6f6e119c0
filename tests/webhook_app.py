"""A small Flask application of the kind the emulator's users write: it validates Twilio's
signature, answers assignment callbacks and keeps the events it is told about. Tests run it
in-process through ``Webhooks.route_wsgi``.

Tasks whose attributes say ``"handling": "instruction"`` are accepted by the JSON answer; those
saying ``"handling": "rest"`` are accepted through the REST API with the twilio client (as an
application that first does some work of its own would), answering ``{}``.
"""

from __future__ import annotations

import json

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator


def create_webhook_app(auth_token: str, twilio_client) -> Flask:
    app = Flask("webhook_app")
    app.config["EVENTS"] = []
    app.config["ASSIGNMENTS"] = []
    validator = RequestValidator(auth_token)

    def check_signature() -> None:
        if not validator.validate(request.url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)

    @app.post("/taskrouter/assignment")
    def assignment():
        check_signature()
        form = request.form.to_dict()
        app.config["ASSIGNMENTS"].append(form)
        handling = json.loads(form["TaskAttributes"]).get("handling")
        if handling == "instruction":
            return {"instruction": "accept"}
        if handling == "rest":
            twilio_client.taskrouter.v1.workspaces(form["WorkspaceSid"]).tasks(form["TaskSid"]) \
                .reservations(form["ReservationSid"]).update(reservation_status="accepted")
            return {}
        return Response("", status=200, content_type="application/json")

    @app.post("/taskrouter/events")
    def events():
        check_signature()
        app.config["EVENTS"].append(request.form.to_dict())
        return Response("", status=204, content_type="application/json")

    return app
