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


class NewsalertError(Exception):
    """Base class for errors newsalert raises deliberately."""


class InputError(NewsalertError):
    """Bad input: reported with its location, the item is refused, the rest goes on."""


class TransientError(NewsalertError):
    """An I/O failure that may succeed when tried again."""


class SetupError(NewsalertError):
    """The environment cannot run the requested command; the message says what to do."""
