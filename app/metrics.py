"""Prometheus metrics, in a registry of their own (no import-time globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "newsmon_feed_polls", "Feed polls by outcome", ["outcome"], registry=self.registry
        )
        self.articles = Counter(
            "newsmon_articles_ingested", "New articles stored", registry=self.registry
        )
        self.fetch_seconds = Histogram(
            "newsmon_fetch_seconds", "Time to fetch one feed", registry=self.registry
        )
        self.parse_seconds = Histogram(
            "newsmon_parse_seconds", "Time to parse and tag one feed", registry=self.registry
        )
        self.poll_seconds = Histogram(
            "newsmon_feed_poll_seconds", "Time to poll one feed end to end", registry=self.registry
        )
        self.feeds_due = Gauge("newsmon_feeds_due", "Feeds due for polling", registry=self.registry)

    def observe_feed(self, outcome: str, new: int, seconds: float) -> None:
        self.polls.labels(outcome=outcome).inc()
        self.articles.inc(new)
        self.poll_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
