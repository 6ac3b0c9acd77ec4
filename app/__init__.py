"""newsmon: a news-monitoring dashboard (pollers, tagger, timeline, API)."""

__version__ = "0.1.0"
