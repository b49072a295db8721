"""Packaging: one import package, ``newsalert``.

The repository keeps ``services/`` and ``schemas/`` at its top level so the layers show in the
tree; installed, they are ``newsalert.services`` and ``newsalert.schemas`` (package-dir mapping),
so the wheel never puts generic top-level names into site-packages. The same mapping carries the
data folders an installed ``newsalert`` needs (``deploy/kafka``, ``seeds``) as data-only packages
under ``newsalert.shipped`` (found by ``newsalert/shipped/__init__.py``); their file patterns are
``[tool.setuptools.package-data]`` in ``pyproject.toml``, as is everything else.
"""

from setuptools import find_packages, setup

MAPPED = {"services": "newsalert.services", "schemas": "newsalert.schemas"}
# Folders without Python code, listed as packages so their files are package data.
DATA = {
    "schemas/json": "newsalert.schemas.json",
    "deploy/kafka": "newsalert.shipped.kafka",
    "seeds": "newsalert.shipped.seeds",
    "seeds/articles": "newsalert.shipped.seeds.articles",
    "services/api/console/templates": "newsalert.services.api.console.templates",
    "services/api/console/static": "newsalert.services.api.console.static",
}


def packages() -> list[str]:
    """Every package of ``newsalert/`` plus the mapped folders' packages under their new names."""
    found = find_packages(include=["newsalert", "newsalert.*"])
    for folder, name in MAPPED.items():
        found += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]
    return found + list(DATA.values())


def package_dir() -> dict[str, str]:
    """Where each package's folder is in the repository."""
    return {"newsalert": "newsalert", **{name: folder for folder, name in {**MAPPED, **DATA}.items()}}


setup(packages=packages(), package_dir=package_dir())
