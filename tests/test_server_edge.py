"""The server's edge: keep-alive, read timeouts, header limits and malformed framing, each answered
in Twilio's JSON shape with a 4xx; and the CLI refusing bad options at start."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time

import pytest
import requests
from conftest import ACCOUNT_SID
from twilio.rest import Client
from werkzeug.serving import WSGIRequestHandler

from emulator import cli
from emulator.facade import TaskRouterEmulator
from emulator.server import RequestHandler, Server

AUTH = "Basic " + __import__("base64").b64encode(f"{ACCOUNT_SID}:token".encode()).decode()


@pytest.fixture(scope="module")
def server():
    with Server(TaskRouterEmulator(seed=1).app, "127.0.0.1", 0, read_timeout=0.5, max_header_bytes=16 * 1024) as s:
        yield s


def _exchange(server, raw: bytes, timeout: float = 5.0, half_close: bool = False) -> bytes:
    """Send ``raw`` (then end the sending side when ``half_close``) and read until the server
    closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


def _status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _post(path: str, extra_headers: bytes, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {AUTH}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n").encode() \
        + extra_headers + b"\r\n" + body


EDGE_CASES = [
    # (name, raw request, expected status)
    ("bad chunk size", _post("/v1/Workspaces", b"Transfer-Encoding: chunked\r\n", b"zz\r\nFriendlyName=x\r\n0\r\n\r\n"),
     400),
    ("chunk cut short", _post("/v1/Workspaces", b"Transfer-Encoding: chunked\r\n", b"ff\r\nFriendlyName=x"), 400),
    ("chunk stalls", _post("/v1/Workspaces", b"Transfer-Encoding: chunked\r\n", b"ff\r\nFriendlyName=x"), 408),
    ("both framings", _post("/v1/Workspaces", b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"0\r\n\r\n"),
     400),
    ("unknown transfer coding", _post("/v1/Workspaces", b"Transfer-Encoding: gzip\r\n", b""), 400),
    ("Content-Length not a number", _post("/v1/Workspaces", b"Content-Length: 1e3\r\n", b""), 400),
    ("body cut short of Content-Length", _post("/v1/Workspaces", b"Content-Length: 100\r\n", b"FriendlyName=x"), 400),
    ("body stalls before Content-Length", _post("/v1/Workspaces", b"Content-Length: 100\r\n", b"FriendlyName=x"), 408),
    ("non-ASCII Authorization", b"GET /v1/Workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic \xe9\xe9\r\n"
                                b"Connection: close\r\n\r\n", 401),
    ("non-UTF-8 credentials", b"GET /v1/Workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic /w==\r\n"
                              b"Connection: close\r\n\r\n", 401),
    ("100 kB header", b"GET /v1/Workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
    ("headers over the limit in total", b"GET /v1/Workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                        + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(20)) + b"\r\n", 431),
    ("more than 100 header lines", b"GET /v1/Workspaces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   + b"".join(b"X-H%d: 1\r\n" % i for i in range(100)) + b"\r\n", 431),
    ("malformed request line", b"GARBAGE\r\n\r\n", 400),
    ("bad HTTP version", b"GET / HTTP/x.y\r\nHost: 127.0.0.1\r\n\r\n", 400),
]


@pytest.mark.parametrize("raw, expected", [case[1:] for case in EDGE_CASES], ids=[case[0] for case in EDGE_CASES])
def test_http_edge_cases_get_a_twilio_shaped_4xx(server, raw, expected, request):
    status, body = _status_and_body(_exchange(server, raw, half_close="cut short" in request.node.name))
    assert status == expected
    assert body["status"] == expected and body["code"] and body["message"]
    assert body["more_info"].startswith("https://www.twilio.com/docs/errors/")


def test_a_silent_client_releases_its_thread_after_the_read_timeout(server):
    # Our own timeout is generous (the server's is 0.5 s): an empty read means the server closed
    # the connection; had it kept waiting, the read would raise instead.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finish
        assert sock.recv(100) == b""  # the server gave up on us and closed


def test_keep_alive_serves_several_requests_on_one_connection(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        stream = sock.makefile("rb")
        for _ in range(3):
            sock.sendall(_post("/v1/Workspaces", b"Content-Length: 14\r\n", b"FriendlyName=k")
                         .replace(b"Connection: close\r\n", b""))
            status_line = stream.readline()
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = json.loads(stream.read(int(headers["content-length"])))
            assert status_line.startswith(b"HTTP/1.1 201") and body["friendly_name"] == "k"
            assert headers.get("connection") != "close"


def test_a_chunked_body_reaches_the_application_whole(server):
    # Two chunks (one with an extension), a trailer field, then a second request on the same
    # connection: the body is the chunks joined, and the framing ends where it should.
    client = Client(ACCOUNT_SID, "token")
    client.taskrouter.base_url = server.url
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        stream = sock.makefile("rb")
        body = b"6;ext=1\r\nFriend\r\n8\r\nlyName=c\r\n7\r\nhunked!\r\n0\r\nX-Trailer: t\r\n\r\n"
        sock.sendall(_post("/v1/Workspaces", b"Transfer-Encoding: chunked\r\n", body)
                     .replace(b"Connection: close\r\n", b"")
                     + b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        status_line = stream.readline()
        length = 0
        while (line := stream.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            length = int(value) if name.lower() == "content-length" else length
        answer = json.loads(stream.read(length))
        assert stream.readline().startswith(b"HTTP/1.1 200")  # the next request, read where it starts
    assert status_line.startswith(b"HTTP/1.1 201") and answer["friendly_name"] == "chunked!"
    assert client.taskrouter.v1.workspaces(answer["sid"]).fetch().friendly_name == "chunked!"


def test_expect_100_continue_is_answered_before_the_body_is_sent(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        stream = sock.makefile("rb")
        head = _post("/v1/Workspaces", b"Content-Length: 14\r\nExpect: 100-continue\r\n", b"")
        sock.sendall(head)
        assert stream.readline().startswith(b"HTTP/1.1 100")  # read before any body byte went out
        assert stream.readline() == b"\r\n"
        sock.sendall(b"FriendlyName=e")
        assert stream.readline().startswith(b"HTTP/1.1 201")


def test_the_real_client_reuses_its_connection(server):
    client = Client(ACCOUNT_SID, "token")
    client.taskrouter.base_url = server.url
    session = requests.Session()
    first = session.get(server.url + "/_emulator/health", timeout=5)
    second = session.get(server.url + "/_emulator/health", timeout=5)
    assert first.status_code == second.status_code == 200
    assert "close" not in first.headers.get("Connection", "")
    assert client.taskrouter.v1.workspaces.create(friendly_name="Over keep-alive").friendly_name == "Over keep-alive"


# Requests whose reading must not depend on which path the server takes: the header block as
# http.client.parse_headers (the email parser) reads it, the environ as werkzeug's make_environ builds it.
READ_ALIKE = [
    ("plain", b"GET /v1/Workspaces?PageSize=5 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"),
    ("repeated field, odd case, blanks", b"POST /v1/Workspaces HTTP/1.1\r\nhost:h  \r\nX-A: 1\r\nx-a:\t 2\r\n"
                                         b"Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n"),
    ("escaped and non-ASCII target", b"GET /v1/Workspaces/%57S%20x/%C3%A9?q=%41&r=\xe9 HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("bare LF line ends, empty value", b"GET / HTTP/1.1\nHost: h\nX-Empty:\n\n"),
    ("latin-1 value", b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: Jos\xe9\r\n\r\n"),
    ("folded line", b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n  b\r\n\r\n"),
    ("line without a name", b"GET / HTTP/1.1\r\nHost: h\r\n: nameless\r\nX-B: 1\r\n\r\n"),
    ("line that is no field", b"GET / HTTP/1.1\r\nHost: h\r\nnot a field\r\nX-B: 1\r\n\r\n"),
    ("space before the colon", b"GET / HTTP/1.1\r\nHost : h\r\n\r\n"),
    ("bare CR inside a value", b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\rX-B: 2\r\n\r\n"),
    ("double slash target", b"GET //v1//Workspaces HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("absolute target", b"GET http://other:9/v1/Workspaces?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("fragment", b"GET /v1/Workspaces#top?x HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("HTTP/1.0", b"GET /v1/Workspaces HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n"),
]


@pytest.mark.parametrize("raw", [raw for _, raw in READ_ALIKE], ids=[name for name, _ in READ_ALIKE])
def test_requests_are_read_as_the_standard_library_and_werkzeug_read_them(raw):
    server = Server(lambda environ, start_response: [], "127.0.0.1", 0)
    try:
        handler = RequestHandler.__new__(RequestHandler)
        handler.server, handler.client_address = server._server, ("127.0.0.1", 50000)
        handler.connection, handler.rfile = object(), io.BytesIO(raw)
        handler.raw_requestline = handler.rfile.readline()
        assert handler.parse_request()
        expected = http.client.parse_headers(io.BytesIO(raw.split(b"\n", 1)[1]))
        assert list(handler.headers.items()) == expected.items()
        for name in ("host", "X-A", "x-b", "X-Long", "Missing"):
            assert handler.headers.get(name) == expected.get(name)
            assert handler.headers.get_all(name) == expected.get_all(name)
        environ = handler.make_environ()
        assert handler.close_connection == (b"HTTP/1.0" in raw and b"keep-alive" not in raw)
    finally:
        server.stop()
    reference = WSGIRequestHandler.make_environ(handler)
    for key in ("wsgi.input", "wsgi.errors"):
        assert environ.pop(key) is reference.pop(key)
    assert environ == reference


def test_header_names_with_underscores_are_left_out_of_the_environ():
    # werkzeug 2.3 and later leave them out ("X_Account" would pass for "X-Account"); so does the
    # server on every werkzeug version
    server = Server(lambda environ, start_response: [], "127.0.0.1", 0)
    try:
        handler = RequestHandler.__new__(RequestHandler)
        handler.server, handler.client_address = server._server, ("127.0.0.1", 50000)
        handler.connection, handler.rfile = object(), io.BytesIO(b"Host: h\r\nX_Account: AC1\r\n\r\n")
        handler.raw_requestline = b"GET /v1/Workspaces HTTP/1.1\r\n"
        assert handler.parse_request()
        environ = handler.make_environ()
    finally:
        server.stop()
    assert environ["HTTP_HOST"] == "h" and "HTTP_X_ACCOUNT" not in environ


def test_an_answer_carries_status_line_server_date_and_the_application_headers(server):
    answer = _exchange(server, b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    assert status == "HTTP/1.1 200 OK"
    assert fields["Server"].startswith("Werkzeug/") and fields["Date"].endswith(" GMT")
    assert fields["Connection"] == "close" and int(fields["Content-Length"]) == len(body)
    assert json.loads(body)


def _ident_app(environ, start_response):
    body = b"%d\n" % threading.get_ident()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _until(predicate, limit: float = 10.0) -> bool:
    """Polls a state change (bounded), so no test depends on how fast the machine is."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_connection_after_one_that_ended_is_served_by_the_same_thread_and_stop_ends_it():
    server = Server(_ident_app, "127.0.0.1", 0).start()
    try:
        request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        first = _exchange(server, request).partition(b"\r\n\r\n")[2]
        assert _until(lambda: server._server._spare_count == 1)  # its thread waits for the next connection
        second = _exchange(server, request).partition(b"\r\n\r\n")[2]
        assert first == second
        assert _until(lambda: server._server._spare_count == 1)
        [thread] = [t for t in threading.enumerate() if t.ident == int(first)]
    finally:
        server.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_connections_at_once_each_get_a_thread():
    # connections open at once each have a thread of their own: none waits for another to end
    server = Server(_ident_app, "127.0.0.1", 0).start()
    socks: list[socket.socket] = []
    try:
        socks += [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(3)]
        idents = set()
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for sock in socks:  # (all kept open until every answer is in: none can pass its thread on)
            stream = sock.makefile("rb")
            while stream.readline() not in (b"\r\n", b""):
                pass
            idents.add(stream.readline())
        assert len(idents) == 3
    finally:
        for sock in socks:
            sock.close()
        server.stop()


CLI_REFUSALS = [
    (["--port", "99999"], "--port"),
    (["--port", "-1"], "--port"),
    (["--port", "http"], "--port"),
    (["--state-file", "/no/such/folder/state.json"], "does not exist"),
    (["--state-interval", "-1"], "--state-interval"),
    (["--state-interval", "nan"], "--state-interval"),
    (["--read-timeout", "0"], "--read-timeout"),
    (["--log-level", "LOUD"], "not a logging level"),
    (["--public-url", "taskrouter.local"], "--public-url"),
    (["--credentials", "/no/such/credentials.json"], "no such readable file"),
    (["--clock", "sundial"], "--clock"),
]


@pytest.mark.parametrize("options, message", CLI_REFUSALS, ids=[" ".join(o) for o, _ in CLI_REFUSALS])
def test_bad_options_stop_the_start_with_a_message_and_exit_code_2(options, message, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", *options])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_port_in_use_is_an_error_at_start(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert cli.main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen on" in capsys.readouterr().err


def test_a_state_file_in_a_read_only_folder_is_an_error_at_start(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if __import__("os").access(folder, __import__("os").W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(SystemExit) as exited:
            cli.main(["serve", "--port", "0", "--state-file", str(folder / "state.json")])
        assert exited.value.code == 2 and "cannot be written" in capsys.readouterr().err
    finally:
        folder.chmod(0o700)
