"""Reading article records from JSON text: JSON Lines, arrays, single objects, directories of them.

Every item comes out with where it was (source, line, index) or as a located parse error, so a
bad record is reported precisely and the others still flow. Only JSON parsing: validating an item
as an article is ``newsalert.domain.articles``'s job. Used by ``replay``, ``match``, the demo and
the ingest body parser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from newsalert.errors import InputError

# File suffixes read as JSON Lines whatever their content looks like.
JSON_LINES_SUFFIXES = frozenset({".jsonl", ".ndjson"})
# File suffixes picked up when a directory is given.
DIRECTORY_SUFFIXES = frozenset({".json", ".jsonl"})

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\r\n"
# json raises RecursionError on absurdly nested input; it is bad input, not a crash.
_TOO_DEEP = "invalid JSON: nested too deeply"


@dataclass(frozen=True, slots=True)
class Location:
    """Where an item is: its source (a file path or a label such as ``request``), the 1-based line
    it starts on, and its 0-based position among the items of that source."""

    source: str
    line: int
    index: int

    def __str__(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass(frozen=True, slots=True)
class RawItem:
    """One parsed JSON value and its exact text (for size checks and dead letters)."""

    location: Location
    value: Any
    text: str


@dataclass(frozen=True, slots=True)
class ParseError:
    """Text that is not valid JSON (or not readable), located as precisely as possible."""

    location: Location
    message: str
    column: int | None = None

    def describe(self) -> str:
        """``source:line[:column]: message``, the form used in reports."""
        where = f"{self.location}:{self.column}" if self.column else str(self.location)
        return f"{where}: {self.message}"


Parsed = RawItem | ParseError


# --- text -------------------------------------------------------------------------------------


def parse_document(text: str, source: str, *, lines: bool | None = None) -> Iterator[Parsed]:
    """The items of a JSON document: JSON Lines when ``lines`` is true, else auto-detected.

    Auto-detection: text starting with ``[`` is an array; text whose non-blank lines each start
    with ``{`` and end with ``}`` (with more than one such line) is JSON Lines; anything else is
    parsed as one JSON value, falling back to JSON Lines when a complete value is followed by
    more data on a later line (JSON Lines with a malformed line).
    """
    text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark is not part of the JSON
    if lines or (lines is None and looks_like_json_lines(text)):
        yield from parse_json_lines(text, source)
    elif text.lstrip(_WHITESPACE).startswith("["):
        yield from parse_json_array(text, source)
    else:
        yield from _parse_single(text, source)


def looks_like_json_lines(text: str) -> bool:
    """True when ``text`` has several non-blank lines and each one looks like a JSON object."""
    count = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not (stripped.startswith("{") and stripped.endswith("}")):
            return False
        count += 1
    return count > 1


def parse_json_lines(text: str, source: str, *, first_line: int = 1) -> Iterator[Parsed]:
    """One item per non-blank line of ``text``; a malformed line is an error for it alone."""
    index = 0
    for offset, line in enumerate(text.splitlines()):
        parsed = parse_line(line, source, first_line + offset, index)
        if parsed is not None:
            yield parsed
            index += 1


def parse_line(line: str, source: str, line_no: int, index: int) -> Parsed | None:
    """The item of one JSON Lines line, ``None`` for a blank line."""
    if not line.strip():
        return None
    location = Location(source, line_no, index)
    try:
        return RawItem(location, json.loads(line), line)
    except json.JSONDecodeError as exc:
        return ParseError(location, f"invalid JSON: {exc.msg}", column=exc.colno)
    except RecursionError:
        return ParseError(location, _TOO_DEEP)


def parse_json_array(text: str, source: str) -> Iterator[Parsed]:
    """One item per element of the JSON array in ``text``, each located at its first line."""
    pos = _skip_ws(text, 0)
    if not text.startswith("[", pos):
        yield _error_at(text, pos, source, 0, "expected a JSON array ('[')")
        return
    pos = _skip_ws(text, pos + 1)
    if text.startswith("]", pos):
        yield from _trailing(text, pos + 1, source, 0)
        return
    line, line_pos, index = 1, 0, 0
    while True:
        line += text.count("\n", line_pos, pos)  # counted incrementally: arrays can be large
        line_pos = pos
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield ParseError(Location(source, exc.lineno, index), f"invalid JSON in array element {index}: {exc.msg}", exc.colno)
            return
        except RecursionError:
            yield ParseError(Location(source, line, index), f"array element {index}: {_TOO_DEEP}")
            return
        yield RawItem(Location(source, line, index), value, text[pos:end])
        index += 1
        pos = _skip_ws(text, end)
        if text.startswith("]", pos):
            yield from _trailing(text, pos + 1, source, index)
            return
        if not text.startswith(",", pos):
            yield _error_at(text, pos, source, index, "expected ',' or ']' after an array element")
            return
        pos = _skip_ws(text, pos + 1)


def _parse_single(text: str, source: str) -> Iterator[Parsed]:
    """The one JSON value of ``text`` (nothing for blank text)."""
    if not text.strip():
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and exc.lineno > 1:
            # A complete value followed by more on a later line: JSON Lines whose heuristic
            # failed because some line is malformed. Per-line parsing reports that line alone.
            yield from parse_json_lines(text, source)
            return
        yield ParseError(Location(source, exc.lineno, 0), f"invalid JSON: {exc.msg}", exc.colno)
        return
    except RecursionError:
        yield ParseError(Location(source, 1, 0), _TOO_DEEP)
        return
    start = _skip_ws(text, 0)
    yield RawItem(Location(source, text.count("\n", 0, start) + 1, 0), value, text.strip(_WHITESPACE))


def _trailing(text: str, pos: int, source: str, index: int) -> Iterator[Parsed]:
    """An error if anything but whitespace follows the closing bracket of an array."""
    pos = _skip_ws(text, pos)
    if pos < len(text):
        yield _error_at(text, pos, source, index, "unexpected data after the end of the array")


def _skip_ws(text: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not JSON whitespace."""
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _error_at(text: str, pos: int, source: str, index: int, message: str) -> ParseError:
    """A ``ParseError`` at character ``pos`` of ``text`` (line and column computed)."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return ParseError(Location(source, line, index), message, column)


# --- files ------------------------------------------------------------------------------------


def discover(paths: Iterable[Path | str]) -> list[Path]:
    """The files to read for ``paths``: files as given, directories searched recursively for
    ``*.json`` and ``*.jsonl`` (sorted). Raises ``InputError`` naming a path that does not exist
    and when nothing at all is found."""
    files: list[Path] = []
    given = [Path(p) for p in paths]
    for path in given:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DIRECTORY_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    if not files:
        raise InputError(f"no *.json or *.jsonl files found in {', '.join(map(str, given)) or '(no paths)'}")
    return files


def read_file(path: Path | str) -> Iterator[Parsed]:
    """The items of one file. JSON Lines files (by suffix) are streamed line by line, so a large
    corpus is never held in memory at once; other files are read whole and auto-detected.
    An unreadable file or undecodable text is reported as a ``ParseError``, never raised."""
    path = Path(path)
    source = str(path)
    try:
        if path.suffix.lower() in JSON_LINES_SUFFIXES:
            yield from _stream_json_lines(path, source)
            return
        raw = path.read_bytes()
    except OSError as exc:
        yield ParseError(Location(source, 1, 0), f"cannot read the file: {exc.strerror or exc}")
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = raw[: exc.start].decode("utf-8")  # valid up to the bad byte, by definition
        yield _error_at(prefix, len(prefix), source, 0, "the file is not valid UTF-8")
        return
    yield from parse_document(text, source)


def _stream_json_lines(path: Path, source: str) -> Iterator[Parsed]:
    """Line-by-line reading of a JSON Lines file; a line that is not UTF-8 is an error for it alone."""
    index = 0
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield ParseError(Location(source, line_no, index), f"the line is not valid UTF-8 (byte {exc.start + 1})")
                index += 1
                continue
            if line_no == 1:
                line = line.removeprefix("\ufeff")
            parsed = parse_line(line, source, line_no, index)
            if parsed is not None:
                yield parsed
                index += 1


def read_paths(paths: Iterable[Path | str]) -> Iterator[Parsed]:
    """The items of every file under ``paths`` (see ``discover``), file after file."""
    for path in discover(paths):
        yield from read_file(path)
