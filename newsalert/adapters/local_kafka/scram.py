"""The SCRAM user of the local SASL_SSL listener: made once per home, stored 0600 in
``kafka/scram.json``, registered in the cluster's metadata when the storage is formatted.

KRaft takes SCRAM credentials at format time (``--add-scram``) without a running broker, which is
why a data dir formatted without them cannot gain them later: ``start --auth scram`` then asks for a
new home (or the data dir removed).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

USER = "newsalert"
MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class ScramUser:
    name: str
    password: str

    def __repr__(self) -> str:  # never the password
        return f"ScramUser(name={self.name!r})"

    def format_args(self) -> list[str]:
        """StorageTool arguments registering the user for every enabled mechanism."""
        args: list[str] = []
        for mechanism in MECHANISMS:
            args += ["--add-scram", f"{mechanism}=[name={self.name},password={self.password}]"]
        return args


def user_file(cluster_root: Path) -> Path:
    return cluster_root / "scram.json"


def ensure_user(cluster_root: Path) -> ScramUser:
    """The home's SCRAM user, made with a random password on first use."""
    found = read_user(cluster_root)
    if found is not None:
        return found
    user = ScramUser(USER, secrets.token_urlsafe(18))
    path = user_file(cluster_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"username": user.name, "password": user.password}, handle)
    return user


def read_user(cluster_root: Path) -> ScramUser | None:
    try:
        data = json.loads(user_file(cluster_root).read_text())
        return ScramUser(data["username"], data["password"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
