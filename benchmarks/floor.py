"""The floor under the HTTP figures: a bare Flask app (one route per call answering a fixed body).

The fixed bodies are the emulator's own answers to the same calls (a workspace, a new worker),
taken once from it at start: the client then reads and parses the same bytes from both, so what
separates the emulator from its floor is the emulator's work on the request, not the size of its
answer.

Imported by ``run.py`` for the in-process floors; run as a script it serves that app behind the
emulator's own server class in a process of its own, started the way ``taskrouter-emulator serve``
starts the emulator (logging at WARNING, the same garbage-collector tuning, ``serve_forever`` on
the main thread), so the HTTP floor differs from the emulator only by the application.

Usage: python benchmarks/floor.py --port PORT
"""

from __future__ import annotations

import argparse
import functools
import logging
import signal
import sys
from pathlib import Path

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FLOOR_SID = "WS" + "0" * 32


@functools.cache
def emulator_bodies() -> tuple[str, str]:
    """The emulator's JSON answer to a workspace fetch and to a worker create, as it sends them."""
    from emulator import TaskRouterEmulator

    with TaskRouterEmulator(seed=1) as emu:
        client = emu.client()
        ws = client.taskrouter.v1.workspaces.create(friendly_name="bench", template="FIFO")
        base = f"https://taskrouter.twilio.com/v1/Workspaces/{ws.sid}"
        workspace = client.request("GET", base)
        worker = client.request("POST", f"{base}/Workers", data={"FriendlyName": "w0"})
        assert (workspace.status_code, worker.status_code) == (200, 201)
        return workspace.text, worker.text


def floor_app() -> Flask:
    """The cheapest route the same path can reach: the floor under every figure."""
    app = Flask("floor")
    workspace, worker = emulator_bodies()

    @app.route("/v1/Workspaces/<sid>", methods=["GET", "POST"])
    def fetch(sid):
        return app.response_class(workspace, content_type="application/json")

    @app.route("/v1/Workspaces/<sid>/Workers", methods=["POST"])
    def create(sid):
        return app.response_class(worker, status=201, content_type="application/json")

    return app


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    from emulator.cli import tune_garbage_collector
    from emulator.server import Server

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server = Server(floor_app(), args.host, args.port)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        tune_garbage_collector()
        print(f"floor serving on {server.url}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
