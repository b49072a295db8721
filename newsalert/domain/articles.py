"""From a producer's JSON value to the article the matcher sees: validation and cleaning.

``clean_article`` is the ONE definition of a cleaned article, used by ingest and replay alike:
title and body go through ``clean_text`` (tags and scraped debris such as ``< p class="x">``
removed, entities decoded: ``AT&amp;T`` -> ``AT&T``); the title is collapsed to one line, the body
keeps paragraph breaks as one blank line (useful for excerpts; the tokeniser ignores them). A
title or body that cleans to nothing becomes ``None``.

``parse_article`` validates a parsed JSON value with ``newsalert.schemas.Article`` and cleans it, raising
``InvalidArticle`` with one ``FieldProblem`` (field path, pydantic's message) per problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from newsalert.domain.text import clean_line, clean_text
from newsalert.errors import InputError
from newsalert.schemas import ARTICLE_MAX_BYTES, Article
from newsalert.schemas.article import CLEANED_HEADER


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One reason an item is not a valid article: the field path (``<root>`` for the whole
    item) and the message."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidArticle(InputError):
    """An item that is not a valid article; ``problems`` names each field and what is wrong."""

    def __init__(self, problems: list[FieldProblem], record_id: str | None = None) -> None:
        self.problems = problems
        self.record_id = record_id
        super().__init__("; ".join(map(str, problems)))


def clean_article(article: Article) -> Article:
    """``article`` with its title and body cleaned (see the module docstring); other fields kept."""
    title = clean_line(article.title)  # clean_text collapsed to one line, in one split/join
    body = clean_text(article.body)
    return article.model_copy(update={"title": title or None, "body": body or None})


def parse_article(value: Any, *, size: int | None = None, clean: bool = True) -> Article:
    """Validate a parsed JSON value as an article and clean it.

    ``size`` is the item's encoded size in bytes when known; above ``ARTICLE_MAX_BYTES`` the item
    is refused (never truncated). The cleaned record is also checked against that limit so it
    always fits in one Kafka message.
    """
    record_id = _id_of(value)
    if size is not None and size > ARTICLE_MAX_BYTES:
        raise InvalidArticle([_too_large(size)], record_id)
    try:
        article = Article.model_validate(value)
    except ValidationError as exc:
        raise InvalidArticle(field_problems(exc), record_id) from None
    cleaned = clean_article(article) if clean else article
    encoded = len(cleaned.to_json())
    if encoded > ARTICLE_MAX_BYTES:
        raise InvalidArticle([_too_large(encoded)], record_id)
    return cleaned


def field_problems(exc: ValidationError) -> list[FieldProblem]:
    """One ``FieldProblem`` per pydantic error, with the dotted field path."""
    problems = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"]) or "<root>"
        problems.append(FieldProblem(path, err["msg"]))
    return problems


def _too_large(size: int) -> FieldProblem:
    return FieldProblem("<root>", f"the record is {size} bytes, more than the limit of {ARTICLE_MAX_BYTES}")


def _id_of(value: Any) -> str | None:
    """The item's id if it has a usable one (for reports about an invalid item)."""
    if isinstance(value, dict) and isinstance(value.get("id"), (str, int)):
        return str(value["id"])[:256]
    return None


def cleaned_by_producer(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]] | None) -> bool:
    """True when a record's headers say its producer cleaned it (``CLEANED_HEADER``)."""
    if isinstance(headers, Mapping):
        return headers.get(CLEANED_HEADER) == b"1"
    return any(name == CLEANED_HEADER and value == b"1" for name, value in headers or ())


def decode_article(raw: bytes | None, *, cleaned: bool = False) -> Article:
    """The cleaned article in a record value; ``InvalidArticle`` naming the field if it is not one.
    ``cleaned``: the producer cleaned it already (``CLEANED_HEADER``), so it is only validated."""
    if raw is None:
        raise InvalidArticle([FieldProblem("<root>", "the record has no value (a tombstone is not an article)")])
    try:
        # Decode explicitly: json.loads on bytes would also accept UTF-16/32, which is not the wire format.
        value = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidArticle([FieldProblem("<root>", f"not UTF-8 text: {exc.reason} at byte {exc.start}")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidArticle([FieldProblem("<root>", f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]) from None
    except RecursionError:
        raise InvalidArticle([FieldProblem("<root>", "JSON nested too deeply to be an article")]) from None
    return parse_article(value, size=len(raw), clean=not cleaned)
