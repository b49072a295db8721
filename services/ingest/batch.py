"""From a ``POST /articles`` body to a batch: parsed, counted, validated and cleaned. Pure: no
I/O, so every rule about what a request may hold is tested without a server.

Rules (the HTTP status each broken rule gives is on ``BodyError``):

- The body is UTF-8 JSON: one article object, a JSON array of them, or NDJSON (forced by an
  NDJSON content type, otherwise recognised when several lines each hold one object).
- Malformed JSON refuses the whole request (400), naming the line and column; nothing is
  published, because the client's serialiser is broken and a partial batch would hide it.
- More items than ``max_batch`` refuses the whole request (413).
- Each item is validated and cleaned on its own (``newsalert.domain.articles.parse_article``);
  an invalid item is rejected with its index, line and field problems, the valid ones go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from newsalert.adapters.article_files import ParseError, parse_document
from newsalert.domain.articles import FieldProblem, InvalidArticle, parse_article
from newsalert.schemas import Article

# Content types whose body is read as one JSON value per line, whatever it looks like.
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/json-lines"}
)

SOURCE = "request"


class BodyError(Exception):
    """The whole request is refused: ``status`` (400 or 413), a message and details for the answer."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def as_json(self) -> dict[str, Any]:
        """The JSON body of the error answer."""
        return {"error": self.message, **self.details}


@dataclass(frozen=True)
class Rejected:
    """One invalid item of a batch: where it was, its id if it had one, and what is wrong."""

    index: int
    line: int
    record_id: str | None
    problems: list[FieldProblem]
    text: str

    def as_json(self) -> dict[str, Any]:
        """The item's entry in the ``rejected`` list of the answer."""
        return {
            "index": self.index,
            "line": self.line,
            "id": self.record_id,
            "errors": [{"field": p.field, "message": p.message} for p in self.problems],
        }

    def reason(self) -> str:
        """One line for logs and the dead letter: ``item 2 (line 3): title: ...``."""
        return f"item {self.index} (line {self.line}): " + "; ".join(map(str, self.problems))


@dataclass
class Batch:
    """The outcome of parsing a body: cleaned articles to publish and rejected items."""

    articles: list[Article] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def parse_body(body: bytes, content_type: str, max_batch: int) -> Batch:
    """Parse, count and validate a request body; raise ``BodyError`` to refuse it whole."""
    text = _decode(body)
    if not text.strip():
        raise BodyError(400, "the body is empty: send one article object, a JSON array or NDJSON")
    lines = True if content_type.lower() in NDJSON_TYPES else None
    batch = Batch()
    count = 0
    for parsed in parse_document(text, SOURCE, lines=lines):
        if isinstance(parsed, ParseError):
            raise BodyError(400, f"malformed JSON at line {parsed.location.line}"
                            + (f", column {parsed.column}" if parsed.column else "") + f": {parsed.message}",
                            line=parsed.location.line, column=parsed.column)
        count += 1
        if count > max_batch:
            raise BodyError(413, f"more than {max_batch} articles in one request; split the batch", max_batch=max_batch)
        try:
            batch.articles.append(parse_article(parsed.value, size=len(parsed.text.encode())))
        except InvalidArticle as exc:
            loc = parsed.location
            batch.rejected.append(Rejected(loc.index, loc.line, exc.record_id, exc.problems, parsed.text))
    if count == 0:
        raise BodyError(400, "the body holds no articles (an empty array?)")
    return batch


def _decode(body: bytes) -> str:
    """The body as text; invalid UTF-8 is refused naming the line and byte."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise BodyError(400, f"the body is not valid UTF-8 (line {line}, byte {exc.start + 1})", line=line) from None
