"""Run the Worker SDK's own integration specs against the emulator.

    python tests/sdk_specs/run.py /path/to/twilio-taskrouter.js [spec names...]

The path is a checkout of https://github.com/twilio/twilio-taskrouter.js (tag 3.0.0) with its
``npm install`` (or ``yarn``) done. The emulator is served on a free local port with real time
and an API key; the SDK's setup script (test/integration_test_setup/IntegrationTestSetup.js)
creates its workspace and writes test.json, then mocha runs test/integration/index.js (or the
named spec files), both with preload.js, which only points twilio-node and the SDK at the
emulator. Prints mocha's report and ``SDK specs: passed P / run R``; exits 0 when nothing failed.
Without a usable checkout it says why and exits 0 (nothing to run).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from emulator import TaskRouterEmulator  # noqa: E402
from emulator.http import Credentials  # noqa: E402

# The presence spec asserts only in a workspace of this name (the name Flex gives its workspace).
WORKSPACE_NAME = "Flex Task Assignment"
SETUP_TIMEOUT = 120
SPECS_TIMEOUT = 1800


def usable(sdk: Path) -> str | None:
    """Why ``sdk`` cannot be used, or None."""
    if not (sdk / "test" / "integration" / "spec").is_dir():
        return f"{sdk} is not a twilio-taskrouter.js checkout (no test/integration/spec)"
    if not (sdk / "node_modules" / ".bin" / "mocha").exists():
        return f"{sdk} has no node_modules: run `npm install` (or `yarn`) there first"
    return None


def main(argv: list[str]) -> int:
    if not argv or not argv[0]:
        print("sdk-specs: no checkout given (make sdk-specs SDK=/path/to/twilio-taskrouter.js); nothing run")
        return 0
    sdk = Path(argv[0]).resolve()
    problem = usable(sdk)
    if problem:
        print(f"sdk-specs: {problem}; nothing run")
        return 0
    account_sid = "AC" + secrets.token_hex(16)
    auth_token = secrets.token_hex(16)
    key_sid, key_secret = "SK" + secrets.token_hex(16), secrets.token_urlsafe(32)
    credentials = Credentials(tokens={account_sid: auth_token}, api_keys={key_sid: (key_secret, account_sid)})
    with TaskRouterEmulator(clock="real", credentials=credentials, account_sid=account_sid) as emu:
        server = emu.serve()
        env = {**os.environ, "EMULATOR_URL": server.url, "SDK_DIR": str(sdk), "ACCOUNT_SID": account_sid,
               "AUTH_TOKEN": auth_token, "SIGNING_KEY_SID": key_sid, "SIGNING_KEY_SECRET": key_secret,
               "WORKSPACE_FRIENDLY_NAME": WORKSPACE_NAME, "REGION": "us1", "ENV": "prod"}
        env.pop("EDGE", None)
        preload = str(HERE / "preload.js")
        setup = subprocess.run(["node", "-r", preload, "test/integration_test_setup/IntegrationTestSetup.js"],
                               cwd=sdk, env=env, capture_output=True, text=True, timeout=SETUP_TIMEOUT)
        if setup.returncode != 0 or not (sdk / "test.json").exists():
            print(setup.stdout, setup.stderr, sep="\n")
            print("sdk-specs: the SDK's setup script failed")
            return 1
        print("setup:", json.dumps({k: v for k, v in json.loads((sdk / "test.json").read_text()).items()
                                    if k.endswith("Sid") and "Key" not in k}))
        specs = [f"./test/integration/spec/{name.removesuffix('.js')}.js" for name in argv[1:]] \
            or ["./test/integration/index.js"]
        command = [str(sdk / "node_modules" / ".bin" / "mocha"), "--full-trace", "--check-leaks",
                   "--require", "@babel/register", "-r", "./test/mocha/no-unicode-reporter.js",
                   "-r", "./test/mocha/fetch.js", "-r", preload, *specs, "--timeout", "40000", "--exit"]
        done = subprocess.run(command, cwd=sdk, env={**env, "SDK_SPECS": "1"}, capture_output=True, text=True,
                              timeout=SPECS_TIMEOUT)
        print(done.stdout[-60000:])
        if done.stderr.strip():
            print(done.stderr[-5000:], file=sys.stderr)
    passing = _count(done.stdout, "passing")
    failing = _count(done.stdout, "failing")
    pending = _count(done.stdout, "pending")
    print(f"SDK specs: passed {passing} / run {passing + failing} ({pending} pending)")
    return 0 if failing == 0 and done.returncode == 0 else 1


def _count(report: str, word: str) -> int:
    found = re.findall(rf"^\s*(\d+) {word}", report, re.M)
    return int(found[-1]) if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
