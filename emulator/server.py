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

A websocket upgrade (``Upgrade: websocket``) is handed to the application with the raw socket in
``environ["werkzeug.socket"]`` and no read timeout; the connection is not reused afterwards.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
from http import HTTPStatus
from urllib.parse import urlsplit

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from . import errors

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
READ_TIMEOUT = 15.0  # seconds a client may stay silent mid-request or idle between requests
MAX_HEADER_BYTES = 64 * 1024  # request line plus headers
MAX_BODY_BYTES = 256 * 1024 * 1024  # a snapshot document restored over HTTP can be large
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

log = logging.getLogger("emulator.server")


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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
        header_bytes = len(self.raw_requestline) + sum(len(k) + len(v) + 4 for k, v in self.headers.items())
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
                self.send_response(code, phrase)
                names = set()
                for key, value in sent_headers:
                    self.send_header(key, value)
                    names.add(key.lower())
                if "content-length" not in names and self.command != "HEAD" and not (100 <= code < 200) \
                        and code not in (204, 304):
                    if self.request_version >= "HTTP/1.1":
                        chunked = True
                        self.send_header("Transfer-Encoding", "chunked")
                    else:
                        self.close_connection = True
                if self.close_connection or self.server.closing:
                    self.close_connection = True
                    self.send_header("Connection", "close")
                self.end_headers()
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
        self._connections: set = set()
        self._connections_lock = threading.Lock()
        super().__init__(host, port, app, handler=RequestHandler)
        own = set(LOOPBACK_NAMES) | {h.lower() for h in public_hosts if h}
        if host not in ("", "0.0.0.0", "::"):
            own.add(host.lower().strip("[]"))
        self.own_hosts = frozenset(own)

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


