"""The outside world: guarded HTTP fetching, feed parsing, OPML."""
