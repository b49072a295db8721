"""The wheel stands alone: built from the sources, installed (not editable) into a fresh venv, run
from a directory that is not the checkout.

The venv reuses this test environment's third-party packages (a ``.pth`` line to its
site-packages, where the editable finder of the checkout is never activated) and installs the
wheel with ``--no-deps``, so only the build itself needs PyPI (setuptools, as ``pip install .``).
"""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

REPO = Path(__file__).resolve().parents[2]
SOURCES = ["setup.py", "pyproject.toml", "README.md", "newsalert", "services", "schemas", "deploy/kafka", "seeds"]
SKIP = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")


def _run(args: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the sources (the checkout gets no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        origin, target = REPO / name, src / name
        if origin.is_dir():
            shutil.copytree(origin, target, ignore=SKIP)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, src], cwd=src)
    (built,) = dist.glob("newsalert-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; third-party packages come from this test venv."""
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", root], cwd=root)
    purelib = next(root.glob("lib/python*/site-packages"))
    (purelib / "_test_env_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", root / "bin" / "python", "install", "--quiet", "--no-deps", wheel], cwd=root)
    return root


def test_wheel_has_one_import_package_and_its_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"newsalert"}
    for data in ("newsalert/shipped/kafka/pom.xml", "newsalert/shipped/seeds/rules.yaml",
                 "newsalert/shipped/seeds/test_stream.jsonl", "newsalert/schemas/json/Alert.schema.json"):
        assert data in names
    assert any(n.startswith("newsalert/shipped/seeds/articles/") and n.endswith(".json") for n in names)


def test_installed_cli_checks_the_installed_seeds(venv: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    where = _run([python, "-c", "import newsalert, newsalert.shipped as s; print(newsalert.__file__); print(s.seed_rules())"],
                 cwd=tmp_path).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where
    done = _run([venv / "bin" / "newsalert", "rules", "check", where[1]], cwd=tmp_path)
    assert ": OK," in done.stdout


def test_installed_cli_finds_the_kafka_pom(venv: Path, tmp_path: Path, kafka_bootstrap: str) -> None:
    done = _run([venv / "bin" / "newsalert", "kafka", "status"], cwd=tmp_path, timeout=60)
    assert done.stdout.startswith("running:"), done.stdout
    version = _run([venv / "bin" / "python", "-c", "from newsalert.adapters.local_kafka import pom_default_version as v; print(v())"], cwd=tmp_path)
    assert version.stdout.strip() == (REPO / "deploy/kafka/pom.xml").read_text().split("<kafka.version>")[1].split("<")[0]
