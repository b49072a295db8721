"""JSON Schema export of every wire model, for producers and consumers not written in Python.

``export(directory)`` writes one ``<Model>.schema.json`` per model in ``WIRE_MODELS`` (JSON Schema
draft 2020-12, as pydantic generates it for validation) and removes stale ``*.schema.json`` files
of models that no longer exist. The output is deterministic: sorted keys, two-space indent, one
trailing newline, so the committed files in ``schemas/json/`` can be compared byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from newsalert.schemas.alert import Alert, WebhookPayload
from newsalert.schemas.article import Article
from newsalert.schemas.dedup import ClaimBatch
from newsalert.schemas.feeds import SeenEntries
from newsalert.schemas.delivery import DeadDelivery, DeliveryAttempt, RetryEnvelope, SubscriberState
from newsalert.schemas.batch import BatchPayload
from newsalert.schemas.digest import DigestPayload
from newsalert.schemas.rejected import RejectedRecord
from newsalert.schemas.rules_feed import RuleSetSnapshot, SubscriptionRecord

WIRE_MODELS: tuple[type[BaseModel], ...] = (
    Article,
    Alert,
    WebhookPayload,
    DigestPayload,
    BatchPayload,
    RejectedRecord,
    DeliveryAttempt,
    DeadDelivery,
    RetryEnvelope,
    SubscriberState,
    ClaimBatch,
    RuleSetSnapshot,
    SubscriptionRecord,
    SeenEntries,
)
"""Every model that travels on a topic or over HTTP."""

DEFAULT_DIR = Path(__file__).resolve().parent / "json"
"""Where the committed schema files live."""

_SUFFIX = ".schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def file_name(model: type[BaseModel]) -> str:
    """The schema file name of ``model``: ``<Model>.schema.json``."""
    return f"{model.__name__}{_SUFFIX}"


def render(model: type[BaseModel]) -> str:
    """The JSON Schema document of ``model`` as deterministic text ending in a newline."""
    schema = model.model_json_schema(mode="validation")
    schema = {"$schema": _DIALECT, "$id": file_name(model), **schema}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name -> content for every wire model."""
    return {file_name(model): render(model) for model in WIRE_MODELS}


def export(directory: Path = DEFAULT_DIR) -> list[Path]:
    """Write every schema file into ``directory`` and remove stale ones; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    wanted = render_all()
    for stale in directory.glob(f"*{_SUFFIX}"):
        if stale.name not in wanted:
            stale.unlink()
    written = []
    for name, text in wanted.items():
        path = directory / name
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale_files(directory: Path = DEFAULT_DIR) -> list[str]:
    """Names of schema files in ``directory`` that are missing, outdated or no longer wanted."""
    wanted = render_all()
    problems = []
    for name, text in wanted.items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            problems.append(name)
    problems += sorted(p.name for p in directory.glob(f"*{_SUFFIX}") if p.name not in wanted)
    return problems
