"""The token callbacks are signed with, set from the pytest marker and the ini file."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SIGNED = """
    import pytest
    from twilio.base.exceptions import TwilioRestException
    from twilio.request_validator import RequestValidator
    from twilio.rest import Client

    B = "AC" + "b" * 32

    def signed_event(emulator, account_sid, token):
        client = Client(account_sid, token)
        if emulator.__class__.__name__ == "EmulatorServer":
            client, emulator = emulator.client(account_sid, token), emulator.emulator
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk", event_callback_url="https://app.test/events")
        client.taskrouter.v1.workspaces(ws.sid).workers.create(friendly_name="Alice")
        emulator.webhooks.wait_idle()
        [record] = emulator.inbox.events("worker.created")
        return record

    def valid(record, token):
        return RequestValidator(token).validate(record.url, record.params, record.headers["X-Twilio-Signature"])

    @pytest.mark.taskrouter(auth_token="app-token")
    def test_marker_token(taskrouter):
        record = signed_event(taskrouter, taskrouter.account_sid, "app-token")
        assert valid(record, "app-token") and not valid(record, "token")
        with pytest.raises(TwilioRestException) as caught:      # strict: the token is required
            Client(taskrouter.account_sid, "token").taskrouter.v1.workspaces.create(friendly_name="Other")
        assert caught.value.status == 401
        assert len(taskrouter.client().taskrouter.v1.workspaces.list()) == 1  # the fixture's client uses it

    def test_ini_credentials(taskrouter):
        record = signed_event(taskrouter, B, "ini-token")
        assert valid(record, "ini-token")

    @pytest.mark.taskrouter(credentials={B: "marker-token"})
    def test_marker_credentials_on_the_server(taskrouter_server):
        record = signed_event(taskrouter_server, B, "marker-token")
        assert valid(record, "marker-token")

    def test_the_server_goes_back_to_the_ini_credentials(taskrouter_server):
        assert taskrouter_server.emulator.token_for(B) == "ini-token"
"""


def test_marker_and_ini_set_the_token_callbacks_are_signed_with(pytester):
    pytester.makeini("[pytest]\ntaskrouter_credentials =\n    " + "AC" + "b" * 32 + "=ini-token\n")
    pytester.makepyfile(test_signed=SIGNED)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=4)


def test_a_malformed_credentials_line_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\ntaskrouter_credentials =\n    ACnotoken\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*taskrouter_credentials: expected AccountSid=token*"])


def test_a_receiver_answering_403_gets_a_clear_outcome_and_a_warning(caplog):
    import logging

    from flask import Flask, abort, request
    from twilio.request_validator import RequestValidator

    from emulator import TaskRouterEmulator

    app = Flask("receiver")
    validator = RequestValidator("the app's own token")

    @app.post("/assign")
    def assign():
        if not validator.validate(request.url, request.form, request.headers.get("X-Twilio-Signature", "")):
            abort(403)
        return {"instruction": "accept"}

    with TaskRouterEmulator() as emu:
        emu.webhooks.route_wsgi("https://app.test/", app)
        client = emu.client()                         # authenticates with the token "token"
        ws = client.taskrouter.v1.workspaces(client.taskrouter.v1.workspaces.create(friendly_name="D",
                                                                                   template="FIFO").sid)
        ws.workflows(ws.workflows.list()[0].sid).update(assignment_callback_url="https://app.test/assign")
        available = [a.sid for a in ws.activities.list() if a.friendly_name == "Available"][0]
        ws.workers.create(friendly_name="Alice", activity_sid=available)
        with caplog.at_level(logging.WARNING, logger="emulator.webhooks"):
            task = ws.tasks.create(attributes="{}")
        record = emu.inbox.assert_sent("assignment", task_sid=task.sid)
        assert record.response["status"] == 403
        assert "the reservation is canceled" in record.outcome
        assert "probably rejected the X-Twilio-Signature" in record.outcome
        assert "@pytest.mark.taskrouter(auth_token=...)" in record.outcome
        [warning] = [r for r in caplog.records if "X-Twilio-Signature" in r.getMessage()]
        assert "https://app.test/assign" in warning.getMessage()

        # with the app's token the same callback is accepted
        emu.reset()
        emu.set_credentials(auth_token="the app's own token")
        emu.webhooks.route_wsgi("https://app.test/", app)
        client = emu.client()
        ws = client.taskrouter.v1.workspaces(client.taskrouter.v1.workspaces.create(friendly_name="D",
                                                                                   template="FIFO").sid)
        ws.workflows(ws.workflows.list()[0].sid).update(assignment_callback_url="https://app.test/assign")
        available = [a.sid for a in ws.activities.list() if a.friendly_name == "Available"][0]
        ws.workers.create(friendly_name="Alice", activity_sid=available)
        task = ws.tasks.create(attributes="{}")
        assert ws.tasks(task.sid).fetch().assignment_status == "assigned"
