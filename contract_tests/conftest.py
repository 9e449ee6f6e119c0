"""The ``target`` these scenarios run against: the emulator (default), or the real TaskRouter.

Live runs are opt-in: set ``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN`` and
``TASKROUTER_CONTRACT_LIVE=1``. A live run works in one workspace of its own, named uniquely,
and always deletes it afterwards. Scenarios assert only what holds on both targets.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from emulator.engine.backend import Backend
from emulator.http import create_app
from emulator.mock import InProcessAdapter

LIVE = (os.environ.get("TASKROUTER_CONTRACT_LIVE") == "1" and bool(os.environ.get("TWILIO_ACCOUNT_SID"))
        and bool(os.environ.get("TWILIO_AUTH_TOKEN")))


@dataclass
class Target:
    name: str
    client: Client


@pytest.fixture(scope="session")
def target() -> Target:
    if LIVE:
        return Target("twilio", Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"]))
    app = create_app(Backend(), strict_schema=True)
    http_client = TwilioHttpClient()
    http_client.session.mount("https://taskrouter.twilio.com", InProcessAdapter(app))
    return Target("emulator", Client("AC" + "c" * 32, "token", http_client=http_client))


@pytest.fixture(scope="session")
def run_workspace(target: Target):
    """One workspace for the whole run (FIFO template), deleted at the end whatever happens."""
    name = f"contract-{uuid.uuid4().hex[:12]}"
    instance = target.client.taskrouter.v1.workspaces.create(friendly_name=name, template="FIFO")
    try:
        yield target.client.taskrouter.v1.workspaces(instance.sid), instance
    finally:
        target.client.taskrouter.v1.workspaces(instance.sid).delete()
