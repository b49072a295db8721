"""The error categories of newsalert, and what the services do with each.

    NewsalertError                 base of every error the project raises on purpose
    ├── InputError                 bad input: a record, request or file that is wrong. Named with where
    │   │                          (file, line, column, field); the item is refused or dead-lettered and
    │   │                          everything else goes on.
    │   ├── QuerySyntaxError       a watch-rule query that does not parse or is not allowed
    │   └── RuleFileError          a rule file that is not valid (carries every problem found)
    ├── TransientError             I/O that may work later (broker unreachable, endpoint timed out):
    │                              retried according to policy, never dead-lettered on the first try.
    └── SetupError                 the machine or configuration cannot run the service (Java missing,
                                   port taken): reported once with what to do, exit non-zero.

Anything else that escapes is a bug: it crashes the process loudly so that a supervisor restarts it.
The stream processors catch per message only ``InputError`` and errors raised while evaluating one
record, dead-letter that record with the reason, and keep going.
"""

from __future__ import annotations

from typing import Any


class NewsalertError(Exception):
    """Base class for errors newsalert raises deliberately."""


class InputError(NewsalertError):
    """Bad input: reported with its location, the item is refused, the rest goes on."""


class QuerySyntaxError(InputError):
    """A watch-rule query that does not parse or is not allowed.

    ``column`` is 1-based, counted in characters of ``query`` (a newline counts as one character);
    ``excerpt()`` shows the query line holding the problem with a caret under it.
    """

    def __init__(self, message: str, column: int, query: str) -> None:
        self.message = message
        self.column = max(1, column)
        self.query = query
        super().__init__(f"column {self.column}: {message}")

    @property
    def offset(self) -> int:
        """0-based character offset of the problem in ``query``."""
        return self.column - 1

    def excerpt(self) -> str:
        """The query line holding the problem, and a caret under the offending character."""
        line_start = self.query.rfind("\n", 0, self.offset) + 1
        line_end = self.query.find("\n", line_start)
        line = self.query[line_start : line_end if line_end != -1 else len(self.query)]
        # Tabs shown as one space each, so the caret stays under the right character.
        return f"{line.replace(chr(9), ' ')}\n{' ' * (self.offset - line_start)}^"


class RuleFileError(InputError):
    """A rule file that is not valid; ``problems`` lists every problem found (not only the first).

    Each problem has ``file``, ``line``, ``column``, ``message`` and ``excerpt`` (see
    ``newsalert.domain.rulefile.Problem``). Messages never contain secret values.
    """

    def __init__(self, problems: list[Any]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(p.render() for p in self.problems))


class TransientError(NewsalertError):
    """An I/O failure that may succeed when tried again."""


class SetupError(NewsalertError):
    """The environment cannot run the requested command; the message says what to do."""
