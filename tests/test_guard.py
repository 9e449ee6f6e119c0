"""The guard against real Twilio, and the emulator beside the user's own ``responses`` mocks."""

from __future__ import annotations

import asyncio

import pytest
import requests
import responses
from twilio.rest import Client

from emulator import TaskRouterEmulator
from emulator.mock import RealTwilioBlocked, is_other_twilio_url, is_taskrouter_url

ACCOUNT = "AC" + "a" * 32
MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
MESSAGE = {"sid": "SM" + "1" * 32, "account_sid": ACCOUNT, "status": "queued", "body": "hi", "to": "+15550001111",
           "from": "+15550002222"}
pytest_plugins = ["pytester"]


@pytest.mark.parametrize("url, taskrouter, other", [
    ("https://taskrouter.twilio.com/v1/Workspaces", True, False),
    ("https://taskrouter.dublin.ie1.twilio.com/v1/Workspaces", True, False),
    ("https://api.twilio.com/2010-04-01/Accounts", False, True),
    ("https://api.dublin.ie1.twilio.com/2010-04-01/Accounts", False, True),
    ("http://verify.twilio.com/v2/Services", False, True),
    ("https://twilio.com/", False, True),
    ("https://api.twilio.com:443/x", False, True),
    ("https://twilio.com.example.org/", False, False),
    ("https://example.com/twilio.com", False, False),
    ("https://nottwilio.com/", False, False),
])
def test_which_hosts_are_guarded(url, taskrouter, other):
    assert (is_taskrouter_url(url), is_other_twilio_url(url)) == (taskrouter, other)


def _sms(client: Client):
    return client.messages.create(to="+15550001111", from_="+15550002222", body="hi")


def test_other_twilio_hosts_fail_fast_with_the_way_out_in_the_message():
    emu = TaskRouterEmulator()
    with emu.mock():
        client = Client(ACCOUNT, "token")
        client.taskrouter.v1.workspaces.create(friendly_name="Desk")       # TaskRouter still served
        with pytest.raises(RealTwilioBlocked) as caught:
            _sms(client)
    message = str(caught.value)
    assert "POST " + MESSAGES in message
    assert "guard=False" in message and "@pytest.mark.taskrouter(guard=False)" in message
    assert "taskrouter_guard = false" in message
    assert not isinstance(caught.value, OSError)     # retry code catching network errors does not swallow it


def test_guard_false_hands_other_hosts_to_the_users_own_mock_around_it():
    emu = TaskRouterEmulator(guard=False)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, MESSAGES, json=MESSAGE, status=201)
        with emu.mock():
            client = Client(ACCOUNT, "token")
            assert _sms(client).sid == MESSAGE["sid"]
            assert client.taskrouter.v1.workspaces.create(friendly_name="Desk").sid.startswith("WS")
    # and the guard is on again by default, even with that mock around it
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, MESSAGES, json=MESSAGE, status=201)
        with emu.mock(guard=True), pytest.raises(RealTwilioBlocked):
            _sms(Client(ACCOUNT, "token"))


def test_a_responses_mock_started_inside_answers_its_urls_and_the_emulator_answers_taskrouter():
    emu = TaskRouterEmulator()
    with emu.mock():
        with responses.RequestsMock() as rsps:          # assert_all_requests_are_fired=True by default
            rsps.add(responses.POST, MESSAGES, json=MESSAGE, status=201)
            client = Client(ACCOUNT, "token")
            ws = client.taskrouter.v1.workspaces.create(friendly_name="Desk", template="FIFO")
            assert [w.sid for w in client.taskrouter.v1.workspaces.list()] == [ws.sid]
            assert _sms(client).sid == MESSAGE["sid"]
            with pytest.raises(RealTwilioBlocked):      # a Twilio URL the inner mock does not know
                client.calls.list()
            assert len(rsps.calls) == 4
    assert responses.RequestsMock._find_match is responses.RequestsMock.__dict__["_find_match"]
    with responses.RequestsMock() as rsps, pytest.raises(requests.exceptions.ConnectionError):   # nothing left patched
        Client(ACCOUNT, "token").taskrouter.v1.workspaces.list()


def test_the_async_client_is_guarded_too():
    from twilio.http.async_http_client import AsyncTwilioHttpClient

    emu = TaskRouterEmulator()

    async def run():
        http_client = AsyncTwilioHttpClient()
        client = Client(ACCOUNT, "token", http_client=http_client)
        try:
            ws = await client.taskrouter.v1.workspaces.create_async(friendly_name="Desk")
            with pytest.raises(RealTwilioBlocked):
                await client.messages.create_async(to="+15550001111", from_="+15550002222", body="hi")
        finally:
            await http_client.close()
        return ws

    with emu.mock():
        assert asyncio.run(run()).sid.startswith("WS")


def test_the_fixture_with_responses_activate_and_the_marker(pytester):
    pytester.makeini("[pytest]\ntaskrouter_guard = true\n")
    pytester.makepyfile(test_app=f"""
        import pytest, responses
        from twilio.rest import Client
        from emulator.mock import RealTwilioBlocked

        MESSAGES = {MESSAGES!r}

        @responses.activate
        def test_sms_and_taskrouter(taskrouter):
            responses.add(responses.POST, MESSAGES, json={MESSAGE!r}, status=201)
            client = Client(taskrouter.account_sid, "token")
            client.taskrouter.v1.workspaces.create(friendly_name="Desk")
            assert client.messages.create(to="+15550001111", from_="+15550002222", body="hi").sid.startswith("SM")
            with pytest.raises(RealTwilioBlocked):
                client.calls.list()

        def test_blocked_by_default(taskrouter):
            with pytest.raises(RealTwilioBlocked):
                Client(taskrouter.account_sid, "token").messages.list()

        @pytest.mark.taskrouter(guard=False)
        def test_let_through_to_an_outer_mock(taskrouter):
            with responses.RequestsMock() as rsps:
                rsps.add(responses.GET, MESSAGES, json={{"messages": [], "meta": {{"key": "messages"}}}})
                with taskrouter.mock():   # an inner emulator mock, guard taken from the marker
                    assert Client(taskrouter.account_sid, "token").messages.list() == []
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=3)
