"""ruff (check, rules in pyproject.toml) over the tree, and mypy strict on the typed subset.

Both run as tools in a subprocess, so landing and CI check them with the unit tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LINTED = ["newsalert", "schemas", "services", "tests", "benchmarks", "setup.py"]
# Relative to the installed layout (newsalert.schemas is the schemas/ folder). The subset grows
# module by module: add one here once ``mypy --strict`` passes on it.
_DELIVERY = ["breaker", "endpoints", "ids", "outcome", "ratelimit", "retry", "signing", "ssrf"]
TYPED = [
    "newsalert/schemas",
    "newsalert/errors.py",
    "newsalert/domain/alerts.py",
    *(f"newsalert/domain/delivery/{name}.py" for name in _DELIVERY),
]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240)


def test_ruff_check_passes():
    done = run([str(BIN / "ruff"), "check", "--no-cache", *LINTED], ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def installed_layout(into: Path) -> Path:
    """A tree of links where the repository's folders sit where the wheel installs them."""
    package = into / "newsalert"
    package.mkdir()
    for entry in (ROOT / "newsalert").iterdir():
        (package / entry.name).symlink_to(entry)
    for folder in ("schemas", "services"):
        (package / folder).symlink_to(ROOT / folder)
    return into


def test_mypy_strict_passes_on_the_typed_subset(tmp_path):
    tree = installed_layout(tmp_path)
    args = [str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / ".mypy"), *TYPED]
    done = run(args, tree)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_file_cites_a_project_issue_number():
    """Readers of the code cannot look up an issue number: the reasoning goes in docs/architecture.md."""
    pattern = re.compile(r"\bissue \d+", re.IGNORECASE)
    suffixes = {".py", ".md", ".yaml", ".yml", ".toml", ".cfg"}
    roots = ["newsalert", "schemas", "services", "tests", "benchmarks", "docs", "deploy", "seeds"]
    files = [p for root in roots for p in (ROOT / root).rglob("*") if p.suffix in suffixes and p.is_file()]
    files += [ROOT / name for name in ("Makefile", "README.md", "pyproject.toml", "setup.py", ".ci/run")]
    found = [f"{p.relative_to(ROOT)}:{n}" for p in files if p.exists()
             for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1) if pattern.search(line)]
    assert found == []
