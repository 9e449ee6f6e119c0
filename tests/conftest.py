"""Fixtures: a fresh emulator per test, and the real twilio client wired to it in-process."""

from __future__ import annotations

import pytest
from twilio.rest import Client

from emulator.facade import TaskRouterEmulator

ACCOUNT_SID = "AC" + "a" * 32
OTHER_ACCOUNT_SID = "AC" + "b" * 32
START = "2026-01-01T00:00:00Z"


class Emulator:
    """A ``TaskRouterEmulator`` in strict-schema mode, its parts by name, a Flask test client for
    the raw HTTP surface, and real twilio clients wired to it in-process."""

    def __init__(self) -> None:
        # callbacks are captured in the inbox (no socket); tests route them elsewhere as needed
        self.emulator = TaskRouterEmulator(seed=1234, start=START, strict_schema=True, webhooks="capture",
                                           account_sid=ACCOUNT_SID)
        self.clock = self.emulator.clock
        self.backend = self.emulator.backend
        self.webhooks = self.emulator.webhooks
        self.app = self.emulator.app
        self.http = self.app.test_client()

    def client(self, account_sid: str = ACCOUNT_SID, token: str = "token") -> Client:
        return self.emulator.client(account_sid, token)


@pytest.fixture
def emu():
    emulator = Emulator()
    yield emulator
    emulator.emulator.close()


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
