"""Prometheus metrics, one registry per process passed down (no module-level globals)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.fetches = Counter(
            "aggregator_fetches",
            "Feed fetches by outcome and HTTP status",
            ["outcome", "status"],
            registry=r,
        )
        self.fetch_seconds = Histogram(
            "aggregator_fetch_duration_seconds",
            "Feed fetch duration",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.parse_seconds = Histogram(
            "aggregator_parse_duration_seconds",
            "Feed parse duration",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.entries_stored = Counter(
            "aggregator_entries_stored",
            "Entries stored by kind (new, updated)",
            ["kind"],
            registry=r,
        )
        self.feed_items = Counter(
            "aggregator_feed_items",
            "Items of changed feed documents: parsed, or unchanged since the last poll",
            ["kind"],
            registry=r,
        )
        self.extractions = Counter(
            "aggregator_extractions",
            "Article extractions by result (ok, failed, skipped)",
            ["result"],
            registry=r,
        )
        self.matches = Counter(
            "aggregator_topic_matches", "Rule matches made per topic", ["topic"], registry=r
        )
        self.due_backlog = Gauge("aggregator_due_feeds", "Feeds due for polling now", registry=r)
        self.oldest_due_age = Gauge(
            "aggregator_oldest_due_feed_age_seconds", "Age of the oldest due feed", registry=r
        )
        self.database_errors = Counter(
            "aggregator_database_errors",
            "Database errors seen by the scheduler or web view",
            registry=r,
        )
        self.ticks = Counter("aggregator_scheduler_ticks", "Scheduler ticks run", registry=r)
        self.web_seconds = Histogram(
            "aggregator_web_request_duration_seconds",
            "Web request latency by route",
            ["route", "method", "status"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
