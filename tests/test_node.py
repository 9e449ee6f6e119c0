"""Node applications (twilio-node) and twilio-cli pointed at a running emulator in one line:
``eval "$(taskrouter-emulator env --node)"``, through the preloads the package ships.

The clients come from npm through tests/node/package.json (``make node-deps``); without Node or
without them installed, these tests skip with the reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import TaskRouterEmulator
from emulator.nodeenv import preload, render, variables

NODE_DIR = Path(__file__).resolve().parent / "node"
ACCOUNT = "AC" + "a" * 32
NODE = shutil.which("node")


def _require(package: str) -> None:
    if NODE is None:
        pytest.skip("Node is not installed (apt-get install nodejs npm), so twilio-node and twilio-cli cannot run")
    if not (NODE_DIR / "node_modules" / package / "package.json").exists():
        pytest.skip(f"{package} is not installed in tests/node (make node-deps runs npm ci there)")


@pytest.fixture
def server():
    with TaskRouterEmulator(start="2026-01-01T00:00:00Z") as emu:
        yield emu.serve()


def _run(command: str, url: str, home: Path, flag: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``eval "$(taskrouter-emulator env FLAG --url URL)"`` then ``command``, as a user would type it."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TWILIO_", "NODE_OPTIONS", "TASKROUTER_"))}
    env.update(HOME=str(home), TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN="token", NO_COLOR="1")
    script = f'eval "$("{sys.executable}" -m emulator env {flag} --url {url})" && {command}'
    return subprocess.run(["sh", "-c", script], cwd=NODE_DIR, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _patched(module: str, flag: str, url: str, tmp_path: Path) -> None:
    """Before anything can reach the network: the preload must have redirected ``module``."""
    check = (f"const m = require({json.dumps(module)}); const c = m.default || m; "
             "process.exit(c.prototype.request[Symbol.for('taskrouter-emulator.redirected')] ? 0 : 3)")
    result = _run(f"node -e {json.dumps(check)}", url, tmp_path, flag)
    assert result.returncode == 0, f"the preload did not redirect {module}: {result.stderr}"


def test_the_printed_environment():
    values = variables("http://127.0.0.1:9000/", cli=True)
    assert values["TASKROUTER_EMULATOR_URL"] == "http://127.0.0.1:9000"
    assert values["NODE_OPTIONS"] == f'--require "{preload("cli")}"' and preload("cli").is_file()
    assert (values["TWILIO_ACCOUNT_SID"], values["TWILIO_SKIP_NEW_VERSION_CHECK"]) == (ACCOUNT, "true")
    assert json.loads(render(values, "json")) == values
    out = subprocess.run([sys.executable, "-m", "emulator", "env", "--node", "--port", "9000"], capture_output=True,
                         text=True, check=True).stdout
    assert out.splitlines()[0] == "export TASKROUTER_EMULATOR_URL=http://127.0.0.1:9000"
    assert str(preload("node")) in out and "TWILIO_AUTH_TOKEN" not in out
    bad = subprocess.run([sys.executable, "-m", "emulator", "env", "--url", "127.0.0.1:9000"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "--url must start with http://" in bad.stderr


def test_an_unchanged_twilio_node_app(server, tmp_path):
    _require("twilio")
    _patched("twilio/lib/base/RequestClient", "--node", server.url, tmp_path)
    result = _run("node app.js", server.url, tmp_path, "--node")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["version"].split(".")[0] == "6"                 # the current major
    assert out["url"] == f"{server.url}/v1/Workspaces/{out['workspace']}"
    assert out["workers"] == ["Ann", "Ben", "Cy"]              # both pages
    assert out["assignmentStatus"] == "pending" and out["fromDublin"] == "From Node"
    assert out["notFound"] == {"status": 404, "code": 20404}
    emu = server.emulator
    ws = emu.client().taskrouter.v1.workspaces(out["workspace"])
    assert ws.tasks(out["task"]).fetch().attributes == '{"type":"support"}'
    assert len(emu.requests.records(method="POST", path="/v1/Workspaces/*/Workers")) == 3


def test_twilio_cli(server, tmp_path):
    _require("twilio-cli")
    _patched("@twilio/cli-core/src/services/cli-http-client", "--cli", server.url, tmp_path)
    twilio = "node_modules/.bin/twilio"
    created = _run(f'{twilio} api:taskrouter:v1:workspaces:create --friendly-name "From CLI" -o json', server.url,
                   tmp_path, "--cli", timeout=120)
    assert created.returncode == 0, created.stderr + created.stdout
    [workspace] = json.loads(created.stdout)
    assert workspace["friendlyName"] == "From CLI" and workspace["sid"].startswith("WS")
    listed = _run(f"{twilio} api:taskrouter:v1:workspaces:list -o json", server.url, tmp_path, "--cli", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [w["sid"] for w in json.loads(listed.stdout)] == [workspace["sid"]]
    assert [r.method for r in server.emulator.requests] == ["POST", "GET"]


def test_the_readme_lines(server, tmp_path):
    _require("twilio-cli")
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"<!-- test: sh -->\n```sh\n(.*?)```", readme, re.DOTALL)
    lines = [line for line in block.splitlines() if not line.startswith("taskrouter-emulator serve")]
    port = server.url.rsplit(":", 1)[1]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "taskrouter-emulator"                     # the console script, in this interpreter
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m emulator "$@"\n')
    shim.chmod(0o755)
    script = "set -e\n" + "\n".join(lines).replace("8787", port)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TWILIO_", "NODE_OPTIONS", "TASKROUTER_"))}
    env.update(HOME=str(tmp_path), PATH=f"{bin_dir}:{NODE_DIR / 'node_modules' / '.bin'}:{env['PATH']}",
               TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN="token", NO_COLOR="1")
    result = subprocess.run(["sh", "-c", script], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    app_line, cli_output = result.stdout.split("\n", 1)
    workspace = json.loads(app_line)["workspace"]
    assert [w["sid"] for w in json.loads(cli_output)] == [workspace]
