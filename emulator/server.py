"""The standalone HTTP server: a threaded WSGI server serving the emulator's app."""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787


class _QuietRequestHandler(WSGIRequestHandler):
    """No access-log line per request (test runs and benchmarks)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


class Server:
    """A running server in a background thread; ``url`` is where clients point
    ``client.taskrouter.base_url``."""

    def __init__(self, app, host: str = DEFAULT_HOST, port: int = 0, *, log_requests: bool = True) -> None:
        # threaded: every request gets its own thread, so concurrent clients are served;
        # the engine's lock keeps state consistent.
        handler = None if log_requests else _QuietRequestHandler
        self._server = make_server(host, port, app, threaded=True, request_handler=handler)
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
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
