"""``taskrouter-emulator`` / ``python -m emulator``: start the standalone server."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import signal
import sys
import threading

from . import __version__
from .clock import MANUAL, MODES, REAL, Clock, parse_instant
from .engine.backend import Backend
from .facade import DEFAULT_ACCOUNT_SID
from .http import Credentials, create_app
from .server import DEFAULT_HOST, DEFAULT_PORT, Server
from .webhooks import Webhooks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskrouter-emulator",
        description="A local, stateful emulator of Twilio TaskRouter (REST API v1).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="start the HTTP server",
        description="Serve TaskRouter v1 under /v1 and the control API under /_emulator. Point a client at it "
                    "with client.taskrouter.base_url = 'http://HOST:PORT'.")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT,
                       help=f"port to listen on; 0 picks a free one (default {DEFAULT_PORT})")
    serve.add_argument("--clock", choices=MODES, default=REAL,
                       help="real: time follows the wall clock and timers fire by themselves (default); "
                            "manual: time moves only through POST /_emulator/clock/advance")
    serve.add_argument("--start", metavar="ISO8601",
                       help="the virtual instant to start at, e.g. 2026-01-01T00:00:00Z (default: now)")
    serve.add_argument("--seed", help="seed for SIDs, so a run can be replayed identically")
    serve.add_argument("--auth-token", metavar="TOKEN",
                       help="strict auth: every account must authenticate with this token "
                            "(default: any well-formed AccountSid with any token)")
    serve.add_argument("--credentials", metavar="FILE",
                       help='strict auth from a JSON file: {"accounts": {"AC..": "token"}, '
                            '"api_keys": {"SK..": {"secret": "..", "account_sid": "AC.."}}}')
    serve.add_argument("--public-url", metavar="URL",
                       help="base URL to put in url, links and paging URLs (default: the host each request came to)")
    serve.add_argument("--strict-schema", action="store_true",
                       help="validate every response against the official schema and fail loudly on a mismatch")
    serve.add_argument("--webhooks", choices=("http", "capture"), default="http",
                       help="http: POST event and assignment callbacks to their URLs (default); capture: only "
                            "record them, readable at GET /_emulator/webhooks")
    serve.add_argument("--blueprint", metavar="NAME_OR_FILE", action="append", default=[],
                       help="load a workspace blueprint at start-up: a bundled name "
                            "(helpdesk, contact_centre, chat_voice_team) or a JSON file; repeatable. "
                            "The SIDs by friendly name are printed as JSON")
    serve.add_argument("--blueprint-account", metavar="ACCOUNT_SID", default=DEFAULT_ACCOUNT_SID,
                       help=f"the account blueprints are loaded into (default {DEFAULT_ACCOUNT_SID})")
    serve.add_argument("--state-file", metavar="PATH",
                       help="keep the whole state in this JSON file: loaded on start if it exists, saved "
                            "atomically every --state-interval seconds and on shutdown (SIGINT or SIGTERM)")
    serve.add_argument("--state-interval", type=float, default=30.0, metavar="SECONDS",
                       help="real seconds between saves of --state-file (default 30; 0: only on shutdown)")
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parity = commands.add_parser(
        "parity", help="compare the emulator's response and callback shapes with recorded real ones",
        description="Run the contract scenarios on the emulator and print, per operation and event type, whether "
                    "its shape matches the one recorded from the real TaskRouter, and when that was recorded. "
                    "Same as python -m emulator.contract parity.")
    parity.add_argument("--fixtures", metavar="DIR", help="the recorded shapes (default: fixtures/contract)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "parity":
        from .contract.cli import main as contract_main
        return contract_main((["--fixtures", args.fixtures] if args.fixtures else []) + ["parity"])
    level = logging.getLevelName(args.log_level.upper())  # the level's number, or text when unknown
    if not isinstance(level, int):
        print(f"--log-level: not a logging level: {args.log_level}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        start = parse_instant(args.start) if args.start else None
    except ValueError:
        print(f"--start: not an ISO 8601 instant: {args.start}", file=sys.stderr)
        return 2
    clock = Clock(args.clock, start=start)
    backend = Backend(clock=clock, seed=args.seed)
    if args.credentials:
        try:
            credentials = Credentials.from_file(args.credentials, auth_token=args.auth_token)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            print(f"--credentials {args.credentials}: {type(exc).__name__}: {exc}", file=sys.stderr)
            clock.stop()
            return 2
    else:
        credentials = Credentials(auth_token=args.auth_token)
    webhooks = Webhooks(backend, default_delivery=args.webhooks)
    app = create_app(backend, credentials=credentials, public_url=args.public_url, strict_schema=args.strict_schema,
                     webhooks=webhooks)
    state_file = None
    if args.state_file:
        from .snapshot import SnapshotError, StateFile
        state_file = StateFile(args.state_file, backend, webhooks, interval=args.state_interval)
        try:
            restored = state_file.load_if_present()
        except (OSError, SnapshotError) as exc:
            print(f"--state-file {args.state_file}: {exc}", file=sys.stderr)
            clock.stop()
            return 2
        if restored:
            # The saved state already holds what the blueprints created the first time.
            print(f"state restored from {args.state_file} (clock at {clock.now().isoformat()})", flush=True)
            args.blueprint = []
    if args.blueprint:
        from .blueprints import BlueprintError, load_blueprint
        for blueprint in args.blueprint:
            try:
                loaded = load_blueprint(backend, args.blueprint_account, blueprint)
            except BlueprintError as exc:
                print(f"--blueprint {blueprint}: {exc}", file=sys.stderr)
                clock.stop()
                return 2
            print(json.dumps({"blueprint": blueprint, **dataclasses.asdict(loaded)}), flush=True)
    server = Server(app, args.host, args.port)
    # SIGTERM (docker stop, a supervisor) ends the server as Ctrl-C does, so the state is saved.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    if state_file is not None:
        state_file.start()
    print(f"TaskRouter emulator {__version__} serving on {server.url} (clock: {clock.mode})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        clock.stop()
        webhooks.close()
        if state_file is not None:
            state_file.stop()
    return 0


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
