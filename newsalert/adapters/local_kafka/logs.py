"""The broker's log: the errors of a failed start and the last lines, for messages."""

from __future__ import annotations

import os
import re
from pathlib import Path

from newsalert.adapters.local_kafka.config import BrokerConfig


def log_tail(cfg: BrokerConfig, lines: int = 25, since: int = 0) -> str:
    """The ERROR/FATAL lines the broker logged after byte ``since`` of its log (the cause of a
    failed start sits there, far above the shutdown noise), then the last lines of its log and
    of the JVM's own output."""
    parts = []
    errors = error_lines(cfg.log_file, since)
    if errors:
        parts.append(f"--- errors in {cfg.log_file} ---\n" + "\n".join(errors))
    for path in (cfg.log_file, cfg.stdout_file):
        if path.is_file():
            with open(path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - 64 * 1024))
                text = handle.read().decode(errors="replace")
            if text.strip():
                parts.append(f"--- {path} ---\n{tail_text(text, lines)}")
    return "\n".join(parts) or f"(no log written under {cfg.log_dir})"


def error_lines(path: Path, since: int, limit: int = 12) -> list[str]:
    """ERROR and FATAL records from byte ``since`` on, each with the exception line after it."""
    if not path.is_file():
        return []
    with open(path, "rb") as handle:
        if since <= path.stat().st_size:
            handle.seek(since)
        text = handle.read(4 * 1024 * 1024).decode(errors="replace")
    found: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"\] (ERROR|FATAL) ", line):
            found.append(line[:500])
            if i + 1 < len(lines) and not lines[i + 1].startswith("["):
                found.append(lines[i + 1][:500])
        if len(found) >= limit:
            break
    return found


def log_size(cfg: BrokerConfig) -> int:
    try:
        return cfg.log_file.stat().st_size
    except FileNotFoundError:
        return 0


def tail_text(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])
