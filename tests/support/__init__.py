"""Helpers shared by the tests: signing secrets and factories of wire records.

Import from here instead of from another test module, so no test file depends on another.
"""

from tests.support.factories import article, make_alert
from tests.support.secrets import OTHER_SECRET, SECRET

__all__ = ["OTHER_SECRET", "SECRET", "article", "make_alert"]
