"""``taskrouter-emulator env``: the environment that points an unchanged Node application
(twilio-node) or twilio-cli at a running emulator, printed for a shell to evaluate.

The package ships one preload per client (``emulator/node/twilio-node.js``, ``twilio-cli.js``);
``NODE_OPTIONS=--require <preload>`` loads it into every Node process, and it sends the requests
the client makes to TaskRouter's hosts to ``TASKROUTER_EMULATOR_URL`` instead.
"""

from __future__ import annotations

import json
import shlex
from importlib import resources
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8787"
DEFAULT_ACCOUNT_SID = "AC" + "a" * 32
DEFAULT_AUTH_TOKEN = "token"
SHELLS = ("sh", "fish", "powershell", "json")


def preload(client: str) -> Path:
    """The preload file for ``client`` (``"node"`` or ``"cli"``), as installed with the package."""
    name = {"node": "twilio-node.js", "cli": "twilio-cli.js"}[client]
    return Path(str(resources.files("emulator") / "node" / name))


def variables(url: str = DEFAULT_URL, *, cli: bool = False, account_sid: str = DEFAULT_ACCOUNT_SID,
              auth_token: str = DEFAULT_AUTH_TOKEN) -> dict[str, str]:
    """The environment variables to set (``NODE_OPTIONS`` without whatever it held before)."""
    url = url.rstrip("/")
    # NODE_OPTIONS takes double-quoted values, so a path with spaces stays one argument
    values = {"TASKROUTER_EMULATOR_URL": url,
              "NODE_OPTIONS": "--require " + json.dumps(str(preload("cli" if cli else "node")))}
    if cli:
        # the CLI reads credentials from these when no profile is active; any token works with a
        # lenient emulator
        values.update({"TWILIO_ACCOUNT_SID": account_sid, "TWILIO_AUTH_TOKEN": auth_token,
                       "TWILIO_SKIP_NEW_VERSION_CHECK": "true"})
    return values


def render(values: dict[str, str], shell: str = "sh") -> str:
    """The lines that set ``values`` in ``shell``; ``NODE_OPTIONS`` keeps what it held."""
    if shell == "json":
        return json.dumps(values, indent=2)
    lines = []
    for name, value in values.items():
        if shell == "sh":
            if name == "NODE_OPTIONS":
                lines.append(f'export NODE_OPTIONS="${{NODE_OPTIONS:+$NODE_OPTIONS }}"{shlex.quote(value)}')
            else:
                lines.append(f"export {name}={shlex.quote(value)}")
        elif shell == "fish":
            quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
            if name == "NODE_OPTIONS":
                lines.append(f"set -gx NODE_OPTIONS (string trim -- \"$NODE_OPTIONS \"{quoted})")
            else:
                lines.append(f"set -gx {name} {quoted}")
        elif shell == "powershell":
            quoted = "'" + value.replace("'", "''") + "'"
            if name == "NODE_OPTIONS":
                lines.append(f"$env:NODE_OPTIONS = (($env:NODE_OPTIONS, {quoted}) -ne $null -ne '') -join ' '")
            else:
                lines.append(f"$env:{name} = {quoted}")
        else:
            raise ValueError(f"shell must be one of {', '.join(SHELLS)}, not {shell!r}")
    return "\n".join(lines)


def add_parser(commands) -> None:
    env = commands.add_parser(
        "env", help="print the environment that points Node apps or twilio-cli at a running emulator",
        description="Print shell lines that point an unchanged Node application (twilio-node) or twilio-cli at a "
                    "running emulator, through a preload the package ships: "
                    'eval "$(taskrouter-emulator env --node)" then node app.js, or '
                    'eval "$(taskrouter-emulator env --cli)" then twilio api:taskrouter:v1:workspaces:list.')
    which = env.add_mutually_exclusive_group()
    which.add_argument("--node", action="store_true", help="for twilio-node applications (the default)")
    which.add_argument("--cli", action="store_true",
                       help="for twilio-cli: also its credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) and no "
                            "update check")
    env.add_argument("--url", default=None, help=f"the running emulator (default {DEFAULT_URL}, or --port)")
    env.add_argument("--port", type=int, default=None, help="the port of an emulator on 127.0.0.1")
    env.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID,
                     help=f"--cli: the account the CLI uses (default {DEFAULT_ACCOUNT_SID})")
    env.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN, help="--cli: its auth token (default 'token')")
    env.add_argument("--shell", choices=SHELLS, default="sh", help="sh (also bash, zsh; the default), fish, "
                                                                    "powershell, or json")


def run(args) -> int:
    import sys

    if args.url and args.port is not None:
        print("env: give --url or --port, not both", file=sys.stderr)
        return 2
    url = args.url or (f"http://127.0.0.1:{args.port}" if args.port is not None else DEFAULT_URL)
    if not url.startswith(("http://", "https://")):
        print(f"env: --url must start with http:// or https://, not {url!r}", file=sys.stderr)
        return 2
    print(render(variables(url, cli=args.cli, account_sid=args.account_sid, auth_token=args.auth_token), args.shell))
    return 0
