"""``TaskRouterEmulator.mock()``: in-process interception of every twilio client through ``responses``."""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
import requests
import responses
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from emulator import TaskRouterEmulator
from emulator.mock import is_taskrouter_url

ACCOUNT = "AC" + "a" * 32
START = "2026-01-01T00:00:00Z"


@pytest.fixture
def emu():
    with TaskRouterEmulator(start=START, seed=11, strict_schema=True) as emulator:
        yield emulator


@pytest.mark.parametrize("url, expected", [
    ("https://taskrouter.twilio.com/v1/Workspaces", True),
    ("https://taskrouter.twilio.com", True),
    ("https://taskrouter.twilio.com:443/v1/Workspaces", True),
    ("https://taskrouter.ie1.twilio.com/v1/Workspaces", True),
    ("https://taskrouter.dublin.ie1.twilio.com/v1/Workspaces?PageSize=2", True),
    ("https://TaskRouter.Twilio.com/v1/Workspaces", True),
    ("http://taskrouter.twilio.com/v1/Workspaces", False),   # the clients only speak https
    ("https://api.twilio.com/2010-04-01/Accounts", False),
    ("https://taskrouter.twilio.com.example.com/v1", False),
    ("https://taskrouter-twilio.com/v1", False),
    ("https://taskrouter.twilio.community/v1", False),
    ("http://127.0.0.1:8787/v1/Workspaces", False),
])
def test_which_urls_are_taskrouter(url, expected):
    assert is_taskrouter_url(url) is expected


@pytest.mark.parametrize("region, edge, host", [
    (None, None, "taskrouter.twilio.com"),
    ("ie1", None, "taskrouter.ie1.twilio.com"),
    ("ie1", "dublin", "taskrouter.dublin.ie1.twilio.com"),
    (None, "sydney", "taskrouter.sydney.us1.twilio.com"),
])
def test_every_client_and_host_variant_is_served_in_process_and_pages_stay_on_it(emu, region, edge, host):
    # The client exists before the mock starts: interception is at send time, not creation.
    client = Client(ACCOUNT, "token", region=region, edge=edge)
    with emu.mock() as mock:
        assert mock.active
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Regional")
        assert ws.url == f"https://{host}/v1/Workspaces/{ws.sid}"
        workers = client.taskrouter.v1.workspaces(ws.sid).workers
        made = [workers.create(friendly_name=f"w{i}").sid for i in range(5)]
        page = workers.page(page_size=2)
        assert page._payload["meta"]["next_page_url"].startswith(f"https://{host}/v1/Workspaces/{ws.sid}/Workers?")
        assert [w.sid for w in workers.list(page_size=2)] == made  # three pages, all in-process
    assert not mock.active


def test_errors_come_back_as_the_real_client_raises_them(emu):
    with emu.mock():
        client = Client(ACCOUNT, "token")
        with pytest.raises(TwilioRestException) as caught:
            client.taskrouter.v1.workspaces("WS" + "0" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_the_original_send_is_restored_after_the_block_also_when_it_raises(emu):
    original = HTTPAdapter.send
    with pytest.raises(RuntimeError, match="boom"):
        with emu.mock():
            assert HTTPAdapter.send is not original
            Client(ACCOUNT, "token").taskrouter.v1.workspaces.create(friendly_name="Before the error")
            raise RuntimeError("boom")
    assert HTTPAdapter.send is original
    assert AsyncTwilioHttpClient.request.__module__ == "twilio.http.async_http_client"
    # The state made inside the block stays in the emulator.
    assert [w.friendly_name for w in emu.client().taskrouter.v1.workspaces.list()] == ["Before the error"]


def test_other_traffic_passes_through_to_the_network(emu):
    with TaskRouterEmulator(start=START) as other, other.serve() as server, emu.mock():
        answer = requests.get(server.url + "/_emulator/health", timeout=5)
    assert answer.json()["status"] == "ok"


def test_nested_mocks_of_two_emulators_inner_wins_and_outer_comes_back():
    with TaskRouterEmulator(start=START, seed=1) as outer, TaskRouterEmulator(start=START, seed=2) as inner:
        client = Client(ACCOUNT, "token")
        with outer.mock():
            client.taskrouter.v1.workspaces.create(friendly_name="Outer")
            with inner.mock():
                client.taskrouter.v1.workspaces.create(friendly_name="Inner")
                with inner.mock():  # re-entering the same emulator is harmless
                    assert [w.friendly_name for w in client.taskrouter.v1.workspaces.list()] == ["Inner"]
            assert [w.friendly_name for w in client.taskrouter.v1.workspaces.list()] == ["Outer"]


def test_one_mock_object_is_reentrant_as_decorator_and_context_manager(emu):
    mock = emu.mock()

    @mock
    def create(name: str) -> str:
        return Client(ACCOUNT, "token").taskrouter.v1.workspaces.create(friendly_name=name).sid

    with mock:
        first = create("One")
        second = create("Two")
        assert mock.active
    assert not mock.active
    assert [w.sid for w in emu.client().taskrouter.v1.workspaces.list()] == [first, second]


def test_a_request_made_while_the_emulator_is_handling_one_is_served(emu):
    """Re-entry: code running inside a request (as an in-process callback handler does) calls the API."""
    seen = []

    def on_event(workspace, event):
        if event.event_type == "task.created":
            task = Client(ACCOUNT, "token").taskrouter.v1.workspaces(workspace.sid).tasks(event.resource_sid).fetch()
            seen.append((task.sid, task.assignment_status))

    emu.backend.subscribe(on_event)
    with emu.mock():
        client = Client(ACCOUNT, "token")
        ws = client.taskrouter.v1.workspaces.create(friendly_name="Reentry", template="FIFO")
        task = client.taskrouter.v1.workspaces(ws.sid).tasks.create(attributes="{}")
    assert seen == [(task.sid, "pending")]


def test_requests_from_other_threads_are_intercepted(emu):
    results, failures = [], []

    def work(n: int) -> None:
        try:
            results.append(Client(ACCOUNT, "token").taskrouter.v1.workspaces.create(friendly_name=f"t{n}").sid)
        except Exception as exc:  # collected and asserted below
            failures.append(exc)

    with emu.mock():
        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    assert sorted(results) == sorted(w.sid for w in emu.client().taskrouter.v1.workspaces.list())


def test_started_inside_a_users_responses_mock_both_answer(emu):
    with responses.RequestsMock() as rsps:
        rsps.get("https://api.example.com/orders", json={"orders": [1, 2]})
        with emu.mock():
            ws = Client(ACCOUNT, "token").taskrouter.v1.workspaces.create(friendly_name="Mixed")
            assert requests.get("https://api.example.com/orders", timeout=5).json() == {"orders": [1, 2]}
        # After the emulator's block the user's mock is alone again and refuses TaskRouter calls.
        with pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
            requests.get(f"https://taskrouter.twilio.com/v1/Workspaces/{ws.sid}", auth=(ACCOUNT, "token"),
                         timeout=5)


def test_routes_can_be_added_to_the_users_own_mock(emu):
    with responses.RequestsMock() as rsps:
        rsps.get("https://api.example.com/ping", body="pong")
        with emu.mock(rsps):
            ws = Client(ACCOUNT, "token").taskrouter.v1.workspaces.create(friendly_name="Joined")
            assert requests.get("https://api.example.com/ping", timeout=5).text == "pong"
            assert any(is_taskrouter_url(call.request.url) for call in rsps.calls)
        assert [r.url for r in rsps.registered()] == ["https://api.example.com/ping"]
    assert ws.sid.startswith("WS")


def test_the_async_client_is_served_in_process_too(emu):
    async def scenario():
        client = Client(ACCOUNT, "token", http_client=AsyncTwilioHttpClient())
        try:
            ws = await client.taskrouter.v1.workspaces.create_async(friendly_name="Async", template="FIFO")
            tasks = client.taskrouter.v1.workspaces(ws.sid).tasks
            made = [(await tasks.create_async(attributes='{"n": %d}' % i)).sid for i in range(3)]
            listed = [t.sid for t in await tasks.list_async(page_size=2)]
            with pytest.raises(TwilioRestException) as caught:
                await tasks("WT" + "0" * 32).fetch_async()
            return made, listed, caught.value.status
        finally:
            await client.http_client.close()

    with emu.mock():
        made, listed, status = asyncio.run(scenario())
    assert listed == made
    assert status == 404


def test_an_async_test_function_can_be_decorated(emu):
    @emu.mock()
    async def scenario():
        client = Client(ACCOUNT, "token", http_client=AsyncTwilioHttpClient())
        try:
            return (await client.taskrouter.v1.workspaces.create_async(friendly_name="Decorated")).sid
        finally:
            await client.http_client.close()

    sid = asyncio.run(scenario())
    assert re.fullmatch(r"WS[0-9a-f]{32}", sid)
    assert AsyncTwilioHttpClient.request.__module__ == "twilio.http.async_http_client"


LATE_ASYNC_IMPORT = r"""
import asyncio, sys
from twilio.rest import Client
from emulator import TaskRouterEmulator

ACCOUNT = "AC" + "a" * 32
outer, inner = TaskRouterEmulator(seed=1), TaskRouterEmulator(seed=2)
with outer.mock():
    with inner.mock():
        assert "aiohttp" not in sys.modules, "mock() imported aiohttp"
        from twilio.http.async_http_client import AsyncTwilioHttpClient

        async def create(name):
            client = Client(ACCOUNT, "token", http_client=AsyncTwilioHttpClient())
            try:
                return (await client.taskrouter.v1.workspaces.create_async(friendly_name=name)).sid
            finally:
                await client.http_client.close()

        asyncio.run(create("inner"))
    asyncio.run(create("outer"))
assert AsyncTwilioHttpClient.request.__module__ == "twilio.http.async_http_client"
names = lambda emu: [ws.friendly_name for ws in emu.client().taskrouter.v1.workspaces.list()]
print(names(outer), names(inner))
"""


def test_the_async_client_imported_inside_mock_is_routed_and_aiohttp_waits_for_it():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", LATE_ASYNC_IMPORT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['outer']", "['inner']"]


def test_intercepted_urls_skip_the_proxy_lookup_and_other_urls_keep_it(emu, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    def proxies(session, url):
        return session.merge_environment_settings(url, {}, None, None, None)["proxies"]

    with emu.mock():
        assert proxies(requests.Session(), "https://taskrouter.twilio.com/v1/Workspaces") == {}
        assert proxies(requests.Session(), "https://api.example.com/x") == {"https": "http://proxy.invalid:3128"}
        ws = Client(ACCOUNT, "token").taskrouter.v1.workspaces.create(friendly_name="Proxied")
    session = emu.client().http_client.session
    assert proxies(session, "https://taskrouter.ie1.twilio.com/v1/Workspaces") == {}
    assert proxies(session, "https://taskrouter.example.com/v1") == {"https": "http://proxy.invalid:3128"}
    assert proxies(requests.Session(), "https://taskrouter.twilio.com/v1") == {"https": "http://proxy.invalid:3128"}
    assert ws.sid.startswith("WS")
