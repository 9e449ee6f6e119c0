"""Print pip constraints pinning every dependency (and the test extra) to its floor in pyproject.toml.

`make test-floors` installs the package with these, so the floors the metadata claims are the
versions the suite actually passed with.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None


LINTERS = ("ruff", "mypy")


def requirements(pyproject: Path) -> list[str]:
    text = pyproject.read_text(encoding="utf-8")
    if tomllib is not None:
        project = tomllib.loads(text)["project"]
        return list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    return re.findall(r'^\s*"([A-Za-z0-9_.-]+>=[^"]+)",?\s*$', text, re.MULTILINE)


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    for requirement in requirements(root / "pyproject.toml"):
        if requirement.startswith(LINTERS):
            continue  # the floors run tests; linting is `make lint`'s, at the latest versions
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([^,;\s]+)", requirement.strip())
        if match is None:
            print(f"floors: cannot read a floor from {requirement!r}", file=sys.stderr)
            return 1
        print(f"{match.group(1)}=={match.group(2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
