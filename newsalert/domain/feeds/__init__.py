"""Feeds, pure: the feed file, entries to articles, polling schedule and seen-entry memory."""
