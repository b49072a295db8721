"""The layers import one way: schemas <- domain <- adapters <- services <- cli (docs/architecture.md).

Every ``import`` in the project's code (module level or inside a function) is read with ``ast``;
a module may import its own layer or a lower one, never a higher one, and no service imports
another service. The CLI starts services only through their entry points (``<service>.main``),
and the wire models and the domain import no I/O library (Kafka, HTTP, processes).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"schemas": "newsalert.schemas", "newsalert": "newsalert", "services": "newsalert.services"}

# Lower number = lower layer. The longest matching prefix decides.
LAYERS = {
    "newsalert.errors": 0,  # the error categories: used everywhere
    "newsalert.schemas": 1,
    "newsalert.domain": 2,
    "newsalert.adapters": 3,
    "newsalert.config": 3,  # settings are read by adapters and services, never by the domain
    "newsalert.logs": 3,
    "newsalert.shipped": 3,  # files shipped with the package
    "newsalert.services": 4,
    "newsalert.cli": 5,
}
NAMES = {0: "errors", 1: "schemas", 2: "domain", 3: "adapters", 4: "services", 5: "cli"}
# Libraries that do I/O (network, processes, metrics servers): adapters and services only.
IO_LIBRARIES = {"aiokafka", "aiohttp", "faust", "mode", "socket", "subprocess", "prometheus_client", "psutil", "requests"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([FOLDERS[parts[0]], *parts[1:]])


def layer_of(module: str) -> int | None:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return None if best is None else LAYERS[best]


def service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["newsalert", "services"] else None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``; ``from a import b`` gives a.b too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import; write the absolute newsalert... name")
            found.append((node.lineno, node.module or ""))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def project_files() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def problems_of(path: Path, root: Path = ROOT) -> list[str]:
    """Every forbidden import of ``path`` (a file under ``root``), one line each."""
    here = module_name(path, root)
    mine = layer_of(here)
    out = []
    for line, target in imports(path):
        where = f"{path.relative_to(root)}:{line}"
        if target.split(".")[0] in ("services", "schemas"):
            out.append(f"{where}: top-level {target!r}; import newsalert.{target}")
            continue
        theirs = layer_of(target)
        if mine in (1, 2) and target.split(".")[0] in IO_LIBRARIES:
            out.append(f"{where}: {NAMES[mine]} module {here} imports {target}; I/O belongs in adapters")
            continue
        if mine is None or theirs is None:
            continue
        if theirs > mine:
            out.append(f"{where}: {NAMES[mine]} module {here} imports {NAMES[theirs]} module {target}")
        elif mine == theirs == 4 and service_of(here) != service_of(target):
            out.append(f"{where}: service {service_of(here)} imports service {service_of(target)} ({target})")
        elif mine == 5 and theirs == 4 and target.split(".")[3:4] not in (["main"], []):
            out.append(f"{where}: the CLI imports {target}; it starts services only through <service>.main")
    return out


def test_every_project_module_is_in_a_layer():
    unplaced = [module_name(p) for p in project_files() if layer_of(module_name(p)) is None and module_name(p) != "newsalert"]
    assert unplaced == []


def test_imports_run_one_way():
    found = [problem for path in project_files() for problem in problems_of(path)]
    assert found == [], "forbidden imports:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("schemas/x.py", "from newsalert.domain.text import strip_markup", "schemas module newsalert.schemas.x imports domain"),
        ("newsalert/domain/x.py", "import newsalert.adapters.broker", "domain module newsalert.domain.x imports adapters"),
        ("newsalert/domain/x.py", "def f():\n    from newsalert.config import Settings", "imports adapters module newsalert.config"),
        ("services/api/x.py", "from newsalert.services.matcher import processing", "service api imports service matcher"),
        ("services/api/x.py", "from services.api import app", "top-level 'services.api'"),
        ("newsalert/cli/x.py", "from newsalert.services.notifier.sender import Sender", "through <service>.main"),
        ("newsalert/domain/x.py", "from aiokafka import AIOKafkaConsumer", "I/O belongs in adapters"),
    ],
)
def test_the_check_finds_a_forbidden_import(tmp_path, module, source, expected):
    path = tmp_path / module
    path.parent.mkdir(parents=True)
    path.write_text(source + "\n")
    assert any(expected in problem for problem in problems_of(path, tmp_path)), problems_of(path, tmp_path)


def test_allowed_imports_pass(tmp_path):
    path = tmp_path / "services" / "api" / "x.py"
    path.parent.mkdir(parents=True)
    path.write_text("from newsalert.services.api import state\nfrom newsalert.adapters import broker\nfrom newsalert.schemas import Alert\n")
    assert problems_of(path, tmp_path) == []
