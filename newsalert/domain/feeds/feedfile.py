"""Loading a YAML feed file (``newsalert.schemas.feeds``) with every problem located.

The same reader as rule files (``newsalert.domain.rulefile``): YAML composed into nodes, every
key and value remembered with its line and column, each feed validated on its own, ids checked for
uniqueness, and every problem raised together as ``FeedFileError`` with ``FILE:LINE:COL`` and a
caret excerpt. No ``${VAR}`` substitution: a feed file holds no secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from newsalert.domain.rulefile import Problem, _Composer, _Loader, _to_data, _YamlProblem
from newsalert.errors import InputError
from newsalert.schemas.feeds import FEEDS_MAX, FeedSpec


class FeedFileError(InputError):
    """A feed file that is not valid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


def load_feed_file(path: str | os.PathLike[str]) -> list[FeedSpec]:
    """The feeds of the file at ``path``; ``FeedFileError`` (also for an unreadable file)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedFileError([Problem(str(path), 1, 1, f"cannot read the feed file: {exc}")]) from None
    return load_feed_text(text, str(path))


def load_feed_text(text: str, filename: str = "<string>") -> list[FeedSpec]:
    """The feeds of feed-file ``text``; ``FeedFileError`` with every problem."""
    return _FeedLoader(text, filename).load_feeds()


class _FeedLoader(_Loader):
    """The rule-file loader's located reporting, applied to a feed file."""

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text, filename, {})

    def load_feeds(self) -> list[FeedSpec]:
        feeds = self.check_feeds(self.root_mapping())
        if self.problems:
            self.problems.sort(key=lambda p: (p.line, p.column))
            raise FeedFileError(self.problems)
        return feeds

    def root_mapping(self) -> dict:
        """The file as plain data ({} after reporting why it is not a feed file)."""
        try:
            root = yaml.compose(self.text, Loader=_Composer)
            data = _to_data(root, (), self.where) if root is not None else None
        except yaml.MarkedYAMLError as exc:
            self.report_yaml_error(exc)
            return {}
        except _YamlProblem as exc:
            self.report_at(exc.node, exc.message)
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("feeds"), list):
            self.report_at(self.where.values.get(("feeds",)) or root, "a feed file is a mapping with a 'feeds:' list, e.g. feeds: [{id: x, url: https://...}]")
            return {}
        for key in data:
            if key != "feeds":
                self.report_at(self.where.keys[(key,)], f"unknown key {key!r} at the top level (allowed: feeds)")
        return data

    def check_feeds(self, data: dict) -> list[FeedSpec]:
        """Every valid feed; reports invalid ones and repeated ids in place."""
        feeds: list[FeedSpec] = []
        seen: dict[str, int] = {}
        if not data:
            return feeds
        items = data["feeds"]
        if not items or len(items) > FEEDS_MAX:
            self.report_at(self.where.values[("feeds",)], f"the 'feeds:' list must hold 1 to {FEEDS_MAX} feeds")
            return []
        for i, item in enumerate(items):
            path = ("feeds", i)
            if not self.is_mapping(item, path, "feed"):
                continue
            what = f"feed {item.get('id')!r}" if isinstance(item.get("id"), str) else f"feed {i + 1}"
            if isinstance(item.get("id"), str) and self.duplicate(item["id"], seen, i, path, "feed"):
                continue
            spec = self.validate(FeedSpec, item, path, what)
            if spec is not None:
                feeds.append(spec)
        return feeds
