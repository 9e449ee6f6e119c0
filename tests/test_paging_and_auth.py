"""Paging (``meta`` and the real client following ``next_page_url``) and credentials."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ACCOUNT_SID, OTHER_ACCOUNT_SID, START
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from emulator.facade import TaskRouterEmulator
from emulator.http.app import Credentials
from emulator.mock import InProcessAdapter

HOST = "http://127.0.0.1:5055"
META_KEYS = {"first_page_url", "key", "next_page_url", "page", "page_size", "previous_page_url", "url"}
API_KEY = "SK" + "1" * 32


def basic(username: str, password: str = "token") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def client_for(app, username: str, password: str, account_sid: str | None = None, seen: list | None = None) -> Client:
    """A real twilio client whose requests reach ``app`` in-process (optionally recording them)."""

    def recording_app(environ, start_response):
        if seen is not None:
            seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], environ["QUERY_STRING"]))
        return app(environ, start_response)

    http_client = TwilioHttpClient()
    http_client.session.mount("https://taskrouter.twilio.com", InProcessAdapter(recording_app))
    return Client(username, password, account_sid, http_client=http_client)


def query_of(url: str) -> dict:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def seven_workers(workspace) -> list[str]:
    return [workspace.workers.create(friendly_name=f"worker-{i}").sid for i in range(7)]


# --- the real client follows next_page_url ------------------------------------------------------
def test_client_list_follows_next_page_url(emu, workspace, seven_workers):
    seen: list = []
    client = client_for(emu.app, ACCOUNT_SID, "token", seen=seen)
    workers = client.taskrouter.v1.workspaces(workspace.instance.sid).workers.list(page_size=3)
    assert [w.sid for w in workers] == seven_workers
    pages = [q for method, path, q in seen if method == "GET" and path.endswith("/Workers")]
    assert len(pages) == 3
    assert [query_of("?" + q).get("PageSize") for q in pages] == ["3", "3", "3"]
    assert "PageToken" not in query_of("?" + pages[0])
    assert [query_of("?" + q)["PageToken"] for q in pages[1:]] == ["PA" + seven_workers[2], "PA" + seven_workers[5]]


def test_client_limit_stops_paging_early(emu, workspace, seven_workers):
    seen: list = []
    client = client_for(emu.app, ACCOUNT_SID, "token", seen=seen)
    workers = client.taskrouter.v1.workspaces(workspace.instance.sid).workers.list(limit=4, page_size=2)
    assert [w.sid for w in workers] == seven_workers[:4]
    assert len(seen) == 2


def test_client_stream_with_filter_keeps_the_filter_across_pages(emu, workspace, seven_workers):
    available = workspace.activities.list(friendly_name="Available")[0].sid
    for sid in seven_workers[1::2]:
        workspace.workers(sid).update(activity_sid=available)
    seen: list = []
    client = client_for(emu.app, ACCOUNT_SID, "token", seen=seen)
    workers = client.taskrouter.v1.workspaces(workspace.instance.sid).workers.list(available="true", page_size=2)
    assert [w.sid for w in workers] == seven_workers[1::2]
    assert len(seen) == 2
    assert all(query_of("?" + q)["Available"] == "true" for _, _, q in seen)


# --- raw meta -----------------------------------------------------------------------------------
def test_meta_shape_filters_and_absolute_urls(emu, workspace, seven_workers):
    path = f"/v1/Workspaces/{workspace.instance.sid}/Workers"
    answer = emu.http.get(path, base_url=HOST, headers=basic(ACCOUNT_SID),
                          query_string={"PageSize": "3", "Ordering": "FriendlyName:desc"})
    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body) == {"workers", "meta"}
    meta = body["meta"]
    assert set(meta) == META_KEYS
    assert (meta["key"], meta["page"], meta["page_size"], meta["previous_page_url"]) == ("workers", 0, 3, None)
    assert [w["friendly_name"] for w in body["workers"]] == ["worker-6", "worker-5", "worker-4"]
    for name in ("first_page_url", "next_page_url", "url"):
        assert meta[name].startswith(HOST + path + "?"), meta[name]
        assert query_of(meta[name])["Ordering"] == "FriendlyName:desc"
        assert query_of(meta[name])["PageSize"] == "3"
    assert query_of(meta["next_page_url"])["Page"] == "1"
    assert query_of(meta["next_page_url"])["PageToken"] == "PA" + body["workers"][-1]["sid"]
    assert all(w["url"].startswith(HOST + path + "/") for w in body["workers"])


def test_next_and_previous_page_urls(emu, workspace, seven_workers):
    auth = basic(ACCOUNT_SID)
    first = emu.http.get(f"/v1/Workspaces/{workspace.instance.sid}/Workers", base_url=HOST, headers=auth,
                         query_string={"PageSize": "3"}).get_json()
    pages = [first]
    while pages[-1]["meta"]["next_page_url"]:
        pages.append(emu.http.get(pages[-1]["meta"]["next_page_url"], headers=auth).get_json())
    assert [[w["sid"] for w in p["workers"]] for p in pages] == \
        [seven_workers[0:3], seven_workers[3:6], seven_workers[6:7]]
    assert [p["meta"]["page"] for p in pages] == [0, 1, 2]
    assert all(p["meta"]["url"].startswith(HOST) for p in pages)
    assert pages[-1]["meta"]["next_page_url"] is None
    assert pages[0]["meta"]["previous_page_url"] is None

    back = emu.http.get(pages[2]["meta"]["previous_page_url"], headers=auth).get_json()
    assert [w["sid"] for w in back["workers"]] == seven_workers[3:6]
    assert back["meta"]["page"] == 1
    back = emu.http.get(back["meta"]["previous_page_url"], headers=auth).get_json()
    assert [w["sid"] for w in back["workers"]] == seven_workers[0:3]
    assert back["meta"]["page"] == 0
    assert back["meta"]["previous_page_url"] is None


def test_exact_multiple_has_no_empty_last_page(emu, workspace, seven_workers):
    workspace.workers(seven_workers[-1]).delete()
    body = emu.http.get(f"/v1/Workspaces/{workspace.instance.sid}/Workers", headers=basic(ACCOUNT_SID),
                        query_string={"PageSize": "3"}).get_json()
    second = emu.http.get(body["meta"]["next_page_url"], headers=basic(ACCOUNT_SID)).get_json()
    assert len(second["workers"]) == 3
    assert second["meta"]["next_page_url"] is None


def test_empty_list_meta(emu, workspace):
    body = emu.http.get(f"/v1/Workspaces/{workspace.instance.sid}/Tasks", base_url=HOST,
                        headers=basic(ACCOUNT_SID), query_string={"AssignmentStatus": "pending"}).get_json()
    assert body["tasks"] == []
    assert body["meta"]["next_page_url"] is None
    assert body["meta"]["page_size"] == 50
    assert query_of(body["meta"]["url"])["AssignmentStatus"] == "pending"


# --- credentials --------------------------------------------------------------------------------
@pytest.fixture
def make():
    """``make(**options)``: an emulator (seeded, one workspace in each of two accounts) and its app."""
    made = []

    def build(**options):
        emulator = TaskRouterEmulator(seed=99, start=START, **options)
        made.append(emulator)
        emulator.backend.create_workspace(ACCOUNT_SID, "Mine")
        emulator.backend.create_workspace(OTHER_ACCOUNT_SID, "Theirs")
        return emulator

    yield build
    for emulator in made:
        emulator.close()


def test_strict_auth_token(make):
    app = make(credentials=Credentials(auth_token="secret"), strict_schema=True).app
    http = app.test_client()
    wrong = http.get("/v1/Workspaces", headers=basic(ACCOUNT_SID, "wrong"))
    assert wrong.status_code == 401
    assert wrong.get_json()["code"] == 20003
    assert wrong.get_json()["status"] == 401
    right = http.get("/v1/Workspaces", headers=basic(ACCOUNT_SID, "secret"))
    assert right.status_code == 200
    assert [w["friendly_name"] for w in right.get_json()["workspaces"]] == ["Mine"]

    good = client_for(app, ACCOUNT_SID, "secret")
    assert [w.friendly_name for w in good.taskrouter.v1.workspaces.list()] == ["Mine"]
    bad = client_for(app, ACCOUNT_SID, "nope")
    ws_sid = right.get_json()["workspaces"][0]["sid"]
    with pytest.raises(TwilioRestException) as info:
        bad.taskrouter.v1.workspaces(ws_sid).fetch()
    assert (info.value.status, info.value.code) == (401, 20003)


def test_per_account_tokens(make):
    app = make(credentials=Credentials(tokens={ACCOUNT_SID: "a-token", OTHER_ACCOUNT_SID: "b-token"})).app
    http = app.test_client()
    assert http.get("/v1/Workspaces", headers=basic(ACCOUNT_SID, "a-token")).status_code == 200
    assert http.get("/v1/Workspaces", headers=basic(ACCOUNT_SID, "b-token")).status_code == 401
    theirs = http.get("/v1/Workspaces", headers=basic(OTHER_ACCOUNT_SID, "b-token")).get_json()
    assert [w["friendly_name"] for w in theirs["workspaces"]] == ["Theirs"]
    # an account without a configured token cannot get in once credentials are strict
    assert http.get("/v1/Workspaces", headers=basic("AC" + "c" * 32, "anything")).status_code == 401


def test_lenient_credentials_accept_any_token(make):
    http = make().app.test_client()
    assert http.get("/v1/Workspaces", headers=basic(ACCOUNT_SID, "whatever")).status_code == 200
    assert http.get("/v1/Workspaces", headers=basic(ACCOUNT_SID, "")).status_code == 200


def test_api_key_authenticates_as_its_account(make):
    emulator = make(credentials=Credentials(api_keys={API_KEY: ("s3cret", ACCOUNT_SID)}), strict_schema=True)
    app, backend = emulator.app, emulator.backend
    client = client_for(app, API_KEY, "s3cret", ACCOUNT_SID)
    workspaces = client.taskrouter.v1.workspaces.list()
    assert [(w.friendly_name, w.account_sid) for w in workspaces] == [("Mine", ACCOUNT_SID)]
    created = client.taskrouter.v1.workspaces.create(friendly_name="Via key")
    assert created.account_sid == ACCOUNT_SID
    assert {w.friendly_name for w in backend.workspaces(ACCOUNT_SID).values()} == {"Mine", "Via key"}

    wrong = client_for(app, API_KEY, "guess", ACCOUNT_SID)
    with pytest.raises(TwilioRestException) as info:
        wrong.taskrouter.v1.workspaces.create(friendly_name="Nope")
    assert (info.value.status, info.value.code) == (401, 20003)
    unknown_key = app.test_client().get("/v1/Workspaces", headers=basic("SK" + "2" * 32, "s3cret"))
    assert unknown_key.status_code == 401


@pytest.mark.parametrize("header", [
    basic("not-a-sid"),
    basic("AC123"),
    basic("WS" + "a" * 32),
    basic("SKshort", "s3cret"),
    {"Authorization": "Basic " + base64.b64encode(b"no-colon-at-all").decode()},
    {"Authorization": "Basic %%%"},
    {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
    {"Authorization": "Token abc"},
    {},
], ids=["word", "short-ac", "ws-sid", "short-sk", "no-colon", "not-base64", "not-utf8", "not-basic", "none"])
def test_malformed_credentials_are_401(make, header):
    app = make(credentials=Credentials(api_keys={API_KEY: ("s3cret", ACCOUNT_SID)})).app
    answer = app.test_client().get("/v1/Workspaces", headers=header)
    assert answer.status_code == 401
    assert answer.get_json() == {"code": 20003, "message": answer.get_json()["message"],
                                 "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
