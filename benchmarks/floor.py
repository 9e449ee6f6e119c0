"""The floor under the HTTP figures: a bare Flask app (one route per call answering a fixed body).

Imported by ``run.py`` for the in-process floors; run as a script it serves that app behind the
emulator's own server class in a process of its own, started the way ``taskrouter-emulator serve``
starts the emulator (logging at WARNING, the same garbage-collector tuning, ``serve_forever`` on
the main thread), so the HTTP floor differs from the emulator only by the application.

Usage: python benchmarks/floor.py --port PORT
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from flask import Flask

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FLOOR_SID = "WS" + "0" * 32


def floor_app() -> Flask:
    """The cheapest route the same path can reach: the floor under every figure."""
    app = Flask("floor")
    body = json.dumps({"sid": FLOOR_SID})

    @app.route("/v1/Workspaces/<sid>", methods=["GET", "POST"])
    def fetch(sid):
        return app.response_class(body, content_type="application/json")

    @app.route("/v1/Workspaces/<sid>/Workers", methods=["POST"])
    def create(sid):
        return app.response_class(body, status=201, content_type="application/json")

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
