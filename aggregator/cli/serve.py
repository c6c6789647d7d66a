"""Long-running commands: `run` (scheduler + web view), `serve` (web view alone), `worker`
(scheduler alone) and `demo` (a bundled local sample site, polled and served)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import click
from aiohttp import web

from aggregator import storage
from aggregator.cli.runtime import (
    install_signal_handlers,
    open_database,
    seed_database,
    settle_gc,
)
from aggregator.cli.services import build_web_services
from aggregator.config import Settings
from aggregator.fetch import Fetcher, FetcherConfig
from aggregator.logs import configure_logging
from aggregator.metrics import Metrics
from aggregator.pipeline import Pipeline
from aggregator.scheduler import Scheduler
from aggregator.tagger import Tagger
from web.app import create_app
from web.ops import add_ops_routes

log = logging.getLogger("aggregator")


async def serve_forever(
    settings: Settings,
    *,
    with_web: bool,
    with_worker: bool,
    demo: bool = False,
) -> None:
    """Run until SIGTERM/SIGINT, then shut down gracefully."""
    stop = asyncio.Event()
    install_signal_handlers(stop)
    demo_site = None
    if demo:
        from aggregator.demo import start_demo_site

        demo_site = await start_demo_site()
        log.info("demo site serving at %s", demo_site.base_url)
    db = await open_database(settings)
    runner: web.AppRunner | None = None
    scheduler: Scheduler | None = None
    try:
        await seed_database(settings, db)
        if demo_site is not None:
            from aggregator.demo import demo_feeds

            await storage.add_feeds(
                db, [feed.to_new_feed() for feed in demo_feeds(demo_site.base_url)]
            )
        metrics = Metrics()
        async with Fetcher(FetcherConfig.from_settings(settings)) as fetcher:
            tagger = Tagger()
            pipeline = Pipeline(
                settings=settings, db=db, fetcher=fetcher, tagger=tagger, metrics=metrics
            )
            if with_worker:
                await pipeline.cpu.start()  # workers ready before the first tick
                scheduler = Scheduler(pipeline)
                scheduler.start()
            if with_web:
                public = dataclasses.replace(settings, base_url=settings.public_base_url())
                app = create_app(
                    public,
                    db,
                    build_web_services(db, fetcher, tagger),
                    cache_ttl_s=settings.web_cache_s,
                )
                add_ops_routes(
                    app,
                    db=db,
                    metrics=metrics,
                    tick_interval_s=settings.poll_tick_s,
                    expect_scheduler=True,
                )
                runner = web.AppRunner(app, access_log=None, handle_signals=False)
                await runner.setup()
                await web.TCPSite(runner, settings.host, settings.port).start()
                url = f"http://{settings.host}:{settings.port}/"
                click.echo(
                    f"aggregator is serving on {url}"
                    + ("  (scheduler running in this process)" if with_worker else ""),
                    err=True,
                )
            elif with_worker:
                click.echo(
                    f"aggregator worker {pipeline.worker_id} running; Ctrl-C stops it", err=True
                )
            settle_gc()
            await stop.wait()
            log.info("shutting down")
            if scheduler is not None:
                await scheduler.shutdown()
            if runner is not None:
                await runner.cleanup()
            pipeline.close()
    finally:
        await db.close()
        if demo_site is not None:
            await demo_site.close()


def _serving_settings(ctx: click.Context, host: str | None, port: int | None) -> Settings:
    settings: Settings = ctx.obj.settings
    changes: dict[str, object] = {}
    if host is not None:
        changes["host"] = host
    if port is not None:
        changes["port"] = port
    settings = dataclasses.replace(settings, **changes)  # type: ignore[arg-type]
    configure_logging(settings.log_level, settings.log_format)
    return settings


host_option = click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
port_option = click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port to listen on (default 8080)."
)


@click.command("run")
@host_option
@port_option
@click.pass_context
def run_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the scheduler and the web view in one process."""
    settings = _serving_settings(ctx, host, port)
    asyncio.run(serve_forever(settings, with_web=True, with_worker=True))


@click.command("serve")
@host_option
@port_option
@click.pass_context
def serve_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the web view alone (workers run elsewhere)."""
    settings = _serving_settings(ctx, host, port)
    asyncio.run(serve_forever(settings, with_web=True, with_worker=False))


@click.command("worker")
@click.pass_context
def worker_command(ctx: click.Context) -> None:
    """Run the scheduler alone (several may share one PostgreSQL database)."""
    settings = _serving_settings(ctx, None, None)
    asyncio.run(serve_forever(settings, with_web=False, with_worker=True))


@click.command("demo")
@host_option
@port_option
@click.option("--keep", is_flag=True, help="Keep the demo database of the last run.")
@click.pass_context
def demo_command(ctx: click.Context, host: str | None, port: int | None, keep: bool) -> None:
    """Offline demo: a bundled sample news site on 127.0.0.1, polled into a separate demo
    database (db/demo.sqlite3) and served."""
    base = _serving_settings(ctx, host, port)
    demo_db = Path("db") / "demo.sqlite3"
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(str(demo_db) + suffix).unlink(missing_ok=True)
    demo_db.parent.mkdir(parents=True, exist_ok=True)
    settings = dataclasses.replace(
        base,
        database_url=f"sqlite+aiosqlite:///{demo_db}",
        auto_migrate=True,
        import_opml="",
        allowed_networks=",".join(filter(None, [base.allowed_networks, "127.0.0.1/32"])),
        poll_tick_s=min(base.poll_tick_s, 5),
        min_interval_s=60,  # the demo site releases new articles while it runs
    )
    asyncio.run(serve_forever(settings, with_web=True, with_worker=True, demo=True))


commands: list[click.Command] = [run_command, serve_command, worker_command, demo_command]
