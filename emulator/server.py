"""The standalone HTTP server: werkzeug's threaded WSGI server, speaking HTTP/1.1 with keep-alive.

werkzeug's own request handler closes every connection and answers protocol errors with an HTML
page. This handler keeps connections open between requests and guards the edge of the server:

- every read from a client waits at most ``read_timeout`` seconds (an idle keep-alive
  connection, a request line, headers or a body that stop coming), so no thread is pinned;
- the request line and the headers together are limited to ``max_header_bytes``;
- the body is read whole before the application runs, exactly ``Content-Length`` bytes or the
  chunked framing decoded, so a malformed frame is answered before any state is touched and the
  next request on the connection starts where it should;
- every problem at this level is answered in Twilio's JSON error shape with a 4xx status.

Per request it does only what an answer needs: the request line and header block are read as
``http.server`` and ``http.client`` read them, but plain ``Name: value`` lines without the email
parser (anything unusual still goes through it); the WSGI environ for a usual request target is
built from the connection's fixed part plus the request's own (as werkzeug builds it); the status
line and headers are written in one piece, with a ``Date`` formatted once a second. Each
connection has a thread of its own; a thread whose connection ended serves the next one.

Why these stand beside the standard library's and werkzeug's own (measured with ``make bench`` and
``valgrind --tool=callgrind`` on the server process, 1,000 kept-alive fetches): the server's own
share of a request fell from 469k to 180k instructions on a bare WSGI app (the email parser alone
took about 34 µs of a twilio-python header block, the direct split about 10 µs), and spare threads
took clients that close every connection from about 1,150 to 2,450-2,880 requests a second.
Tests compare the reading with ``http.client``'s and werkzeug's on a table of requests.

A websocket upgrade (``Upgrade: websocket``) is handed to the application with the raw socket in
``environ["werkzeug.socket"]`` and no read timeout; the connection is not reused afterwards.
"""

from __future__ import annotations

import email.parser
import email.utils
import http.client
import io
import json
import logging
import queue
import re
import socket
import sys
import threading
import time
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from . import errors

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
READ_TIMEOUT = 15.0  # seconds a client may stay silent mid-request or idle between requests
MAX_HEADER_BYTES = 64 * 1024  # request line plus headers
MAX_BODY_BYTES = 256 * 1024 * 1024  # a snapshot document restored over HTTP can be large
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SPARE_THREAD_SECONDS = 30.0  # how long a thread whose connection ended waits for the next one

log = logging.getLogger("emulator.server")


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# The limits ``http.client.parse_headers`` puts on a request's header block (line length, lines).
_MAX_HEADER_LINE = 65536
_MAX_HEADER_LINES = 100
# A header line the fast path reads as the email parser would: a field name of visible characters
# other than ":" (the parser's own header pattern), then ":", then the value on this line alone.
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")


class _Headers:
    """A request's header fields, answering the reads the server and werkzeug make of
    ``http.client.HTTPMessage`` (``get``, ``get_all``, ``items``, ``in``, ``[]``) with the same
    results, without running the email parser over every request."""

    __slots__ = ("_fields", "_by_name", "size")

    def __init__(self, fields: list[tuple[str, str]], by_name: dict[str, list[str]], size: int) -> None:
        self._fields = fields
        self._by_name = by_name
        self.size = size  # what the fields count towards the header limit

    def get(self, name: str, failobj=None):
        values = self._by_name.get(name.lower())
        return values[0] if values else failobj

    def get_all(self, name: str, failobj=None):
        values = self._by_name.get(name.lower())
        return list(values) if values else failobj

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)

    def keys(self) -> list[str]:
        return [name for name, _ in self._fields]

    def values(self) -> list[str]:
        return [value for _, value in self._fields]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __getitem__(self, name: str):
        return self.get(name)

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._fields)


def parse_header_lines(lines: list[bytes]):
    """The header fields of ``lines`` (as read, the empty line ending them included), read as
    ``http.client.parse_headers`` reads them. Plain ``Name: value`` lines are split here; a block
    with anything else (folded lines, a line without a field name, a bare CR) goes to the email
    parser itself, so every request reads the same either way."""
    fields = []
    by_name: dict[str, list[str]] = {}
    size = 0
    for raw in lines[:-1]:  # (the last line is the empty one, or the end of the stream)
        name, colon, rest = raw.decode("iso-8859-1").partition(":")
        # (compat32's reading: leading blanks of the value dropped, the line end stripped; the
        # email parser also ends a line at a bare CR)
        value = rest.lstrip(" \t").rstrip("\r\n")
        if not colon or "\r" in value or not _FIELD_NAME.fullmatch(name):
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
                b"".join(lines).decode("iso-8859-1"))
        fields.append((name, value))
        key = name.lower()
        if key in by_name:
            by_name[key].append(value)
        else:
            by_name[key] = [value]
        size += len(name) + len(value) + 4
    return _Headers(fields, by_name, size)


_ENVIRON_KEYS: dict[str, str | None] = {}  # header name -> its WSGI environ key (None: left out)


def _environ_key(name: str) -> str | None:
    """werkzeug's environ key for a header field name (``None`` for a name with "_", which
    werkzeug 2.3 and later leave out); the usual names are remembered."""
    if "_" in name:
        key = None
    else:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
    if len(_ENVIRON_KEYS) < 256:  # (bounded: a client can send any names)
        _ENVIRON_KEYS[name] = key
    return key


def error_body(status: int, message: str) -> bytes:
    """The Twilio-shaped JSON body of an error answered by the server itself."""
    return json.dumps(errors.TwilioError(message, status=status, code=20000 + status).to_dict()).encode("utf-8")


class RequestHandler(WSGIRequestHandler):
    """One client connection: requests served one after another until either side closes."""

    protocol_version = "HTTP/1.1"
    server: "_WSGIServer"
    # A buffered writer: the status line, the headers and a small body leave in one segment when
    # the request is done (``handle_one_request`` flushes), not in several small writes.
    wbufsize = -1

    _connection_environ: dict | None = None

    def setup(self) -> None:
        super().setup()
        # On a kept-alive connection a small answer must not wait for the client's delayed ACK of
        # the previous one (Nagle's algorithm): about 40 ms a request on Linux.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection.settimeout(self.server.read_timeout)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def handle_expect_100(self) -> bool:
        answered = super().handle_expect_100()
        self.wfile.flush()  # the client waits for the 100 before it sends the body
        return answered

    # --- logging -----------------------------------------------------------------------------
    def log_request(self, code="-", size="-") -> None:
        if self.server.access_log:
            super().log_request(code, size)

    def log_error(self, format: str, *args) -> None:
        log.debug("%s: " + format, self.address_string(), *args)

    # --- errors at the protocol level ----------------------------------------------------------
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a request the server cannot hand to the application, in Twilio's JSON shape
        (``BaseHTTPRequestHandler`` would send an HTML page); the connection is closed after."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        text = message or phrase or "Bad request"
        if explain and explain != text:
            text = f"{text}: {explain}"
        self.log_error("code %d, message %s", code, text)
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # an unreadable request line still gets a status line
        if not hasattr(self, "requestline"):
            self.requestline = ""
        body = error_body(code, text)
        try:
            self.send_response(code, phrase)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            pass

    # --- one request ---------------------------------------------------------------------------
    def parse_request(self) -> bool:
        """``BaseHTTPRequestHandler.parse_request`` (the same checks, answers and connection rules),
        reading the header block with ``parse_header_lines`` instead of the email parser."""
        self.command = None  # type: ignore[assignment]  # (as the base class: unset on an error)
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) == 3 and words[2] == "HTTP/1.1":  # nearly every request: nothing to check
            version = words[2]
            self.close_connection = self.protocol_version < "HTTP/1.1"
            self.request_version = version
        elif len(words) >= 3:  # enough to know the protocol version
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                base_version_number = version.split("/", 1)[1]
                numbers = base_version_number.split(".")
                if len(numbers) != 2 or not all(n.isdigit() and len(n) <= 10 for n in numbers):
                    raise ValueError
                version_number = int(numbers[0]), int(numbers[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if version_number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if version_number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({base_version_number})")
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if path.startswith("//"):
            self.path = "/" + path.lstrip("/")  # reduced to a single /
        lines = []
        while True:
            line = self.rfile.readline(_MAX_HEADER_LINE + 1)
            if len(line) > _MAX_HEADER_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long",
                                f"got more than {_MAX_HEADER_LINE} bytes when reading header line")
                return False
            lines.append(line)
            if len(lines) > _MAX_HEADER_LINES:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers",
                                f"got more than {_MAX_HEADER_LINES} headers")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
        self.headers = parse_header_lines(lines)
        conntype = self.headers.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if self.headers.get("Expect", "").lower() == "100-continue" and self.protocol_version >= "HTTP/1.1" \
                and self.request_version >= "HTTP/1.1":
            if not self.handle_expect_100():
                return False
        return True

    def make_environ(self):
        """werkzeug's WSGI environ for this request. For the usual request target (a path from
        "/", no fragment) it is built here from what does not change on the connection plus the
        request's own parts; anything else goes through werkzeug's ``make_environ``. Header names
        with "_" are left out, as werkzeug 2.3 and later do (they would pass for "-")."""
        path = self.path
        if self.server.ssl_context is not None or not path.startswith("/") or path.startswith("//") or "#" in path:
            return super().make_environ()
        environ = self._connection_environ
        if environ is None:
            environ = self._connection_environ = {
                "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.multithread": self.server.multithread,
                "wsgi.multiprocess": self.server.multiprocess, "wsgi.run_once": False,
                "werkzeug.socket": self.connection, "SERVER_SOFTWARE": self.server_version, "SCRIPT_NAME": "",
                "REMOTE_ADDR": self.address_string(), "REMOTE_PORT": self.port_integer(),
                "SERVER_NAME": self.server.server_address[0], "SERVER_PORT": str(self.server.server_address[1]),
            }
        environ = environ.copy()
        path_part, _, query = path.partition("?")
        raw = path.encode().decode("latin1")  # werkzeug's "WSGI encoding dance"
        environ.update({
            "wsgi.input": self.rfile, "wsgi.errors": sys.stderr, "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path_part).encode().decode("latin1"), "QUERY_STRING": query.encode().decode("latin1"),
            "REQUEST_URI": raw, "RAW_URI": raw, "SERVER_PROTOCOL": self.request_version,
        })
        for name, value in self.headers.items():
            key = _ENVIRON_KEYS.get(name, "")
            if key == "":
                key = _environ_key(name)
            if key is None:
                continue
            value = value.replace("\r\n", "")
            if key in environ and key[0] == "H":  # a repeated HTTP_ field: its values joined
                value = f"{environ[key]},{value}"
            environ[key] = value
        return environ

    def handle(self) -> None:
        self.close_connection = True
        try:
            self.handle_one_request()
            while not self.close_connection:
                self.handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            pass  # the client went away or stayed silent past the read timeout

    def handle_one_request(self) -> None:
        self.raw_requestline = self.rfile.readline(self.server.max_header_bytes + 1)
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > self.server.max_header_bytes:
            self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG, "Request line too long")
            return
        try:
            parsed = self.parse_request()  # reads the headers; answers its own errors via send_error
        except UnicodeError:
            self.send_error(HTTPStatus.BAD_REQUEST, "Request line is not ASCII")
            return
        if not parsed:
            return
        headers = self.headers
        header_bytes = len(self.raw_requestline) + (
            headers.size if isinstance(headers, _Headers) else sum(len(k) + len(v) + 4 for k, v in headers.items()))
        if header_bytes > self.server.max_header_bytes:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                            f"Request headers exceed {self.server.max_header_bytes} bytes")
            return
        if self.request_version < "HTTP/1.1":
            self.close_connection = True  # no chunked answers or keep-alive for HTTP/1.0
        upgrade = "upgrade" in self.headers.get("Connection", "").lower() and self.headers.get("Upgrade")
        if upgrade:
            # The application takes the socket over (websockets): no read timeout, no reuse.
            self.connection.settimeout(None)
            self.close_connection = True
            body = b""
        else:
            try:
                body = self._read_body()
            except _BodyError as exc:
                self.send_error(exc.status, exc.message)
                return
            except TimeoutError:
                self.send_error(HTTPStatus.REQUEST_TIMEOUT,
                                f"The request body did not arrive within {self.server.read_timeout:g} s")
                return
        self._run(body)
        self.wfile.flush()

    def _read_body(self) -> bytes:
        """The whole body, by its framing; raises ``_BodyError`` for a framing the server refuses."""
        encoding = self.headers.get_all("Transfer-Encoding") or []
        length = self.headers.get_all("Content-Length") or []
        if encoding:
            codings = [c.strip().lower() for value in encoding for c in value.split(",") if c.strip()]
            if length:
                # both framings at once is how requests are smuggled past proxies (RFC 9112 6.1)
                raise _BodyError(400, "A request may not have both Transfer-Encoding and Content-Length")
            if codings != ["chunked"]:
                raise _BodyError(400, f"Transfer-Encoding {', '.join(codings)} is not supported; use chunked")
            return self._read_chunked()
        if not length:
            return b""
        if len({v.strip() for v in length}) != 1 or not length[0].strip().isascii() \
                or not length[0].strip().isdigit():
            raise _BodyError(400, "Content-Length is not a number of bytes")
        size = int(length[0].strip())
        if size > self.server.max_body_bytes:
            raise _BodyError(413, f"The request body exceeds {self.server.max_body_bytes} bytes")
        body = self.rfile.read(size)
        if len(body) < size:
            raise _BodyError(400, f"The request body ended after {len(body)} of {size} bytes (Content-Length)")
        return body

    def _read_chunked(self) -> bytes:
        body = io.BytesIO()
        while True:
            line = self.rfile.readline(1026)
            if not line.endswith(b"\n"):
                raise _BodyError(400, "Malformed chunked body: a chunk size line is missing or too long")
            size_text = line.split(b";", 1)[0].strip()
            try:
                if not size_text or not all(c in b"0123456789abcdefABCDEF" for c in size_text):
                    raise ValueError
                size = int(size_text, 16)
            except ValueError:
                raise _BodyError(400, "Malformed chunked body: a chunk size is not hexadecimal") from None
            if size == 0:
                break
            if body.tell() + size > self.server.max_body_bytes:
                raise _BodyError(413, f"The request body exceeds {self.server.max_body_bytes} bytes")
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BodyError(400, "Malformed chunked body: a chunk is shorter than its size")
            body.write(chunk)
        # trailer fields up to the empty line
        for _ in range(100):
            line = self.rfile.readline(self.server.max_header_bytes)
            if line in (b"\r\n", b"\n"):
                return body.getvalue()
            if not line:
                break
        raise _BodyError(400, "Malformed chunked body: the trailer does not end")

    def _run(self, body: bytes) -> None:
        try:
            environ = self.make_environ()
        except ValueError:  # a request target urlsplit cannot read, e.g. "http://[x"
            self.send_error(HTTPStatus.BAD_REQUEST, "Malformed request target")
            return
        environ["wsgi.input"] = io.BytesIO(body)
        environ["wsgi.input_terminated"] = True
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["emulator.server_hosts"] = self.server.own_hosts
        self.environ = environ
        headers_sent = False
        chunked = False

        def start_response(status, headers, exc_info=None):
            nonlocal sent_status, sent_headers
            if exc_info and headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
            sent_status, sent_headers = status, headers
            return write

        sent_status: str | None = None
        sent_headers: list | None = None

        def write(data: bytes) -> None:
            nonlocal headers_sent, chunked
            if not headers_sent:
                assert sent_status is not None and sent_headers is not None, "write() before start_response"
                headers_sent = True
                code_text, _, phrase = sent_status.partition(" ")
                code = int(code_text)
                # What send_response, send_header and end_headers would write, built in one piece.
                self.log_request(code)
                head = [f"{self.protocol_version} {code} {phrase}\r\n",
                        f"Server: {self.version_string()}\r\nDate: {self.server.date()}\r\n"]
                length = False
                for key, value in sent_headers:
                    head.append(f"{key}: {value}\r\n")
                    name = key.lower()
                    if name == "content-length":
                        length = True
                    elif name == "connection":  # (as send_header: the application's word counts)
                        if value.lower() == "close":
                            self.close_connection = True
                        elif value.lower() == "keep-alive":
                            self.close_connection = False
                if not length and self.command != "HEAD" and not (100 <= code < 200) and code not in (204, 304):
                    if self.request_version >= "HTTP/1.1":
                        chunked = True
                        head.append("Transfer-Encoding: chunked\r\n")
                    else:
                        self.close_connection = True
                if self.close_connection or self.server.closing:
                    self.close_connection = True
                    head.append("Connection: close\r\n")
                if self.request_version != "HTTP/0.9":  # (an HTTP/0.9 answer is the body alone)
                    head.append("\r\n")
                    self.wfile.write("".join(head).encode("latin-1", "strict"))
            if data:
                if chunked:
                    self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
                else:
                    self.wfile.write(data)

        try:
            iterable = self.server.app(environ, start_response)
            try:
                for data in iterable:
                    write(data)
                if not headers_sent:
                    write(b"")
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            finally:
                if hasattr(iterable, "close"):
                    iterable.close()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # dropped, or a websocket the application ended
        except Exception:
            log.exception("unhandled error serving %s %s", self.command, self.path)
            self.close_connection = True
            if not headers_sent:
                self.send_error(500, "Internal emulator error")


class _WSGIServer(ThreadedWSGIServer):
    daemon_threads = True

    def __init__(self, host, port, app, *, access_log: bool, read_timeout: float, max_header_bytes: int,
                 max_body_bytes: int, public_hosts=()) -> None:
        self.access_log = access_log
        self.read_timeout = read_timeout
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self.closing = False
        self._closed = False
        self._spares: queue.SimpleQueue = queue.SimpleQueue()
        self._spare_count = 0  # threads waiting for a connection that none has been handed yet
        self._spare_lock = threading.Lock()
        self._date = (0, "")
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        super().__init__(host, port, app, handler=RequestHandler)
        own = set(LOOPBACK_NAMES) | {h.lower() for h in public_hosts if h}
        if host not in ("", "0.0.0.0", "::"):
            own.add(host.lower().strip("[]"))
        self.own_hosts = frozenset(own)

    def process_request(self, request, client_address) -> None:
        """Every connection has a thread of its own (as ``ThreadingMixIn`` gives it), but a thread
        whose connection has ended waits a while for the next one instead of ending: starting a
        thread costs more than serving a small request, and clients that close their connection
        after each request (``Connection: close``) pay it every time."""
        with self._spare_lock:
            spare = self._spare_count > 0
            if spare:
                self._spare_count -= 1
        if spare:
            self._spares.put((request, client_address))
        else:
            threading.Thread(target=self._serve_connections, args=(request, client_address),
                             name="taskrouter-emulator-connection", daemon=True).start()

    def _serve_connections(self, request, client_address) -> None:
        while True:
            self.process_request_thread(request, client_address)
            with self._spare_lock:
                if self._closed:
                    return
                self._spare_count += 1
            try:
                job = self._spares.get(timeout=SPARE_THREAD_SECONDS)
            except queue.Empty:
                with self._spare_lock:
                    if self._spare_count > 0:  # no connection is on its way to a spare thread
                        self._spare_count -= 1
                        return
                job = self._spares.get()  # one was handed over just now: this thread takes it
            if job is None:
                return
            request, client_address = job

    def server_close(self) -> None:
        super().server_close()
        with self._spare_lock:
            self._closed = True
            waiting, self._spare_count = self._spare_count, 0
        for _ in range(waiting):
            self._spares.put(None)

    def date(self) -> str:
        """The ``Date`` header's value for now, formatted once a second (as ``date_time_string``)."""
        now = int(time.time())
        cached = self._date
        if cached[0] != now:
            cached = self._date = (now, email.utils.formatdate(now, usegmt=True))
        return cached[1]

    def track(self, connection, alive: bool) -> None:
        with self._connections_lock:
            (self._connections.add if alive else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """End every open connection (idle keep-alive ones would otherwise wait out the timeout)."""
        self.closing = True
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Server:
    """A running server in a background thread; ``url`` is where clients point
    ``client.taskrouter.base_url``.

    ``log_requests``: an access-log line per request (werkzeug's logger, level INFO).
    ``read_timeout``: seconds a client may stay silent mid-request or idle on a kept-alive
    connection. ``public_hosts``: host names besides the loopback ones and the listening address
    that are this server's own (the control API refuses any other ``Host``).
    """

    def __init__(self, app, host: str = DEFAULT_HOST, port: int = 0, *, log_requests: bool = False,
                 read_timeout: float = READ_TIMEOUT, max_header_bytes: int = MAX_HEADER_BYTES,
                 max_body_bytes: int = MAX_BODY_BYTES, public_hosts=()) -> None:
        public_url = getattr(app, "config", {}).get("public_url")
        if public_url:
            public_hosts = (*public_hosts, urlsplit(public_url).hostname or "")
        try:
            self._server = _WSGIServer(host, port, app, access_log=log_requests, read_timeout=read_timeout,
                                       max_header_bytes=max_header_bytes, max_body_bytes=max_body_bytes,
                                       public_hosts=public_hosts)
        except SystemExit:  # werkzeug reports a bind failure on stderr and exits; a caller wants an error
            raise OSError(f"cannot listen on {host}:{port}") from None
        except OSError as exc:  # Werkzeug before 2.3 lets the bind error itself through
            raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.host = host
        self.port = self._server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "Server":
        """Serve in a background thread (a server already started is left as it is)."""
        if self._thread is not None:
            return self
        # A short poll interval: stop() waits for one, and tests start and stop servers often.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="taskrouter-emulator-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.1)

    def shutdown(self) -> None:
        """Stop accepting and end open connections; safe from a signal handler's thread only if
        ``serve_forever`` runs in another thread (``stop`` does both)."""
        self._server.close_connections()

    def stop(self) -> None:
        # what the app holds open through this server (the Event Bridge's websockets) ends cleanly first
        for hook in getattr(self._server.app, "config", {}).get("server_stop_hooks", ()):
            hook(self.port)
        if self._thread is not None:
            # socketserver's shutdown() waits until serve_forever() has run and returned: called
            # after a serve_forever() of the caller's own thread that a signal interrupted before
            # it got going (or after none at all), it would wait for ever.
            self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


