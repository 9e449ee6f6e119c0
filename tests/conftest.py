"""Fixtures: a fresh emulator per test, and the real twilio client wired to it in-process."""

from __future__ import annotations

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from emulator.engine.backend import Backend
from emulator.http import create_app
from emulator.mock import InProcessAdapter
from emulator.webhooks import Webhooks

ACCOUNT_SID = "AC" + "a" * 32
OTHER_ACCOUNT_SID = "AC" + "b" * 32
START = "2026-01-01T00:00:00Z"


class Emulator:
    """A backend, its app in strict-schema mode, and helpers to make real clients for it."""

    def __init__(self) -> None:
        from emulator.clock import MANUAL, Clock
        self.clock = Clock(MANUAL, start=START)
        self.backend = Backend(clock=self.clock, seed=1234)
        # callbacks are captured in the inbox (no socket); tests route them elsewhere as needed
        self.webhooks = Webhooks(self.backend, default_delivery="capture")
        self.app = create_app(self.backend, strict_schema=True, webhooks=self.webhooks)
        self.http = self.app.test_client()

    def client(self, account_sid: str = ACCOUNT_SID, token: str = "token") -> Client:
        http_client = TwilioHttpClient()
        http_client.session.mount("https://taskrouter.twilio.com", InProcessAdapter(self.app))
        return Client(account_sid, token, http_client=http_client)


@pytest.fixture
def emu() -> Emulator:
    return Emulator()


@pytest.fixture
def client(emu: Emulator) -> Client:
    return emu.client()


@pytest.fixture
def workspace(client: Client):
    """A FIFO-template workspace context (its instance is ``workspace.instance``)."""
    instance = client.taskrouter.v1.workspaces.create(friendly_name="Test Workspace", template="FIFO")
    context = client.taskrouter.v1.workspaces(instance.sid)
    context.instance = instance
    return context
