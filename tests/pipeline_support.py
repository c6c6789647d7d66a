"""A pipeline on a real migrated SQLite file and the local fixture site (not a test module)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aggregator import storage
from aggregator.config import Settings, load_settings
from aggregator.fetch import Fetcher, FetcherConfig
from aggregator.pipeline import Pipeline
from aggregator.storage import Database
from aggregator.storage.migrate import upgrade
from aggregator.tagger import Tagger
from aggregator.tagging import load_default_topics
from tests.fixture_site import FIXTURE_ALLOWED_NETWORKS

US_IRAN_PARAGRAPHS = [
    "Washington and Tehran resumed indirect talks on Iran's nuclear program on Monday, "
    "with Omani mediators carrying messages between the U.S. and Iranian delegations.",
    "The Trump administration has said it wants a new nuclear deal with Iran, while keeping "
    "its maximum pressure campaign of sanctions on Iranian oil exports in place.",
    "Iran's foreign minister said Tehran would not negotiate under threat, and accused the "
    "United States of violating the 2015 nuclear agreement when it withdrew in 2018.",
    "A White House spokesperson said the President had written to Iran's Supreme Leader, "
    "Ayatollah Ali Khamenei, proposing direct negotiations over the nuclear program.",
]
WEATHER_PARAGRAPHS = [
    "A band of heavy rain will move across the valley on Saturday, forecasters said.",
    "Temperatures will fall sharply overnight, and frost is likely in rural areas by Sunday.",
    "The weather service advised drivers to allow extra time on the mountain roads.",
]


def article_page(title: str, paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title} | Example News</title></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/world'>World</a></nav></header>"
        f"<main><article><h1>{title}</h1>{body}</article></main>"
        "<aside><h3>Newsletter</h3><p>Sign up for our daily newsletter.</p></aside>"
        "<footer>Copyright Example News</footer></body></html>"
    ).encode()


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        # A little ahead of the wall clock: feeds added now are due at once.
        self.now = now or datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class PipelineEnv:
    settings: Settings
    db: Database
    pipeline: Pipeline
    clock: Clock

    async def subscribe(self, url: str, **kw: Any) -> int:
        from aggregator.types import NewFeed

        feed = await storage.add_feed(self.db, NewFeed(url=url, **kw))
        return feed.id


async def pipeline_env(tmp_path: Path, **overrides: Any) -> AsyncIterator[PipelineEnv]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'aggregator.sqlite3'}"
    settings = load_settings(
        env={},
        overrides={
            "database_url": url,
            "allowed_networks": FIXTURE_ALLOWED_NETWORKS,
            "read_timeout_s": 2,
            "total_timeout_s": 5,
            "connect_timeout_s": 2,
            **overrides,
        },
    )
    db = await Database.open(url)
    await upgrade(db)
    for topic in load_default_topics():
        await storage.upsert_topic(db, topic.slug, topic.name, topic.description, topic.definition)
    clock = Clock(datetime.now(UTC) + timedelta(hours=1))
    try:
        async with Fetcher(FetcherConfig.from_settings(settings)) as fetcher:
            pipeline = Pipeline(
                settings=settings,
                db=db,
                fetcher=fetcher,
                tagger=Tagger(),
                clock=clock,
                worker_id="test-worker",
            )
            try:
                yield PipelineEnv(settings=settings, db=db, pipeline=pipeline, clock=clock)
            finally:
                pipeline.close()
    finally:
        await db.close()
