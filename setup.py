"""Packaging: one import package, ``newsalert``.

The repository keeps ``services/`` and ``schemas/`` at its top level so the layers show in the
tree; installed, they are ``newsalert.services`` and ``newsalert.schemas`` (package-dir mapping),
so the wheel never puts generic top-level names into site-packages. Everything else is in
``pyproject.toml``.
"""

from setuptools import find_packages, setup

MAPPED = {"services": "newsalert.services", "schemas": "newsalert.schemas"}


def packages() -> list[str]:
    """Every package of ``newsalert/`` plus the mapped folders' packages under their new names."""
    found = find_packages(include=["newsalert", "newsalert.*"])
    for folder, name in MAPPED.items():
        found += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=packages(), package_dir={"newsalert": "newsalert", **{name: folder for folder, name in MAPPED.items()}})
