"""Files the project ships besides code: the local broker's Maven POM and the seeds.

In a checkout they live at ``deploy/kafka/pom.xml`` and ``seeds/``; the wheel carries them as
package data under ``newsalert/shipped/kafka`` and ``newsalert/shipped/seeds`` (``setup.py`` maps
the folders), so an installed ``newsalert`` finds them from any working directory.
"""

from __future__ import annotations

from pathlib import Path

from newsalert.errors import SetupError

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parents[1]

# (installed location, checkout location) of each shipped folder
_FOLDERS = {
    "kafka": (_HERE / "kafka", _CHECKOUT / "deploy" / "kafka"),
    "seeds": (_HERE / "seeds", _CHECKOUT / "seeds"),
}


def _folder(name: str, probe: str) -> Path:
    """The first location of folder ``name`` that holds ``probe``."""
    candidates = _FOLDERS[name]
    for folder in candidates:
        if (folder / probe).is_file():
            return folder
    raise SetupError(
        f"{probe} not found in {' or '.join(str(c) for c in candidates)}: "
        "the installation is incomplete (reinstall newsalert)"
    )


def kafka_pom() -> Path:
    """The Maven POM that resolves the local broker's jars."""
    return _folder("kafka", "pom.xml") / "pom.xml"


def seeds_dir() -> Path:
    """The seeds folder: the example rule file, the seed article and the test stream."""
    return _folder("seeds", "rules.yaml")


def seed_rules() -> Path:
    """The example rule file ``seeds/rules.yaml``."""
    return seeds_dir() / "rules.yaml"
