"""The matching engine: articles against watch rules (see :mod:`.engine`)."""

from newsalert.domain.matching.document import Document, prepare
from newsalert.domain.matching.engine import Engine, Explanation, RuleMatch, TermReport
from newsalert.domain.matching.highlights import Highlight

__all__ = ["Document", "Engine", "Explanation", "Highlight", "RuleMatch", "TermReport", "prepare"]
