"""An entry's main text from its web page, with trafilatura (boilerplate, menus and ads left out).

Pure CPU work on HTML already fetched (the caller runs it in a worker thread). Returns None when
trafilatura finds no main text, so the caller falls back to the entry's summary.
"""

from __future__ import annotations

import trafilatura


def main_text(html: str, url: str | None = None) -> str | None:
    """The page's main text as plain paragraphs, or None when none could be extracted."""
    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False, favor_precision=True)
    return text.strip() or None if text else None
